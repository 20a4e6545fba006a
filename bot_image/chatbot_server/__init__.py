"""The bundled chatbot server that every ChatBot runs."""

import os

# NumPy's OpenBLAS runs a matrix product on a thread per core. For the one product a semantic search
# makes per question (10k chunk vectors by the question's), those threads only add their
# hand-over: the search's CPU time per question at 10k chunks was 9.9 ms with them, 4.9 ms without
# (docs/benchmarks.md, "Answer quality"), and the bot serves requests concurrently anyway. Set
# before anything imports NumPy; a value given in the environment is kept.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
