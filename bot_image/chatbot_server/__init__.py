"""The bundled chatbot server that every ChatBot runs."""
