// The chat page: the conversation lives in this page (and sessionStorage) and is sent whole each turn.
"use strict";

(() => {
  const config = JSON.parse(document.getElementById("bot-config").textContent);
  const log = document.getElementById("log");
  const form = document.getElementById("ask");
  const question = document.getElementById("question");
  const send = document.getElementById("send");
  const keyForm = document.getElementById("key-form");
  const keyInput = document.getElementById("api-key");
  const KEY_STORAGE = "chatbot-api-key";
  const HISTORY_STORAGE = "chatbot-history";

  let history = [];
  try { history = JSON.parse(sessionStorage.getItem(HISTORY_STORAGE) || "[]"); } catch { history = []; }

  function saveHistory() { sessionStorage.setItem(HISTORY_STORAGE, JSON.stringify(history)); }

  function showKeyForm(message) {
    keyForm.hidden = false;
    if (message) keyForm.querySelector("label").textContent = message;
    keyInput.focus();
  }
  if (config.authRequired && !sessionStorage.getItem(KEY_STORAGE)) showKeyForm();

  keyForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const key = keyInput.value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY_STORAGE, key);
    keyInput.value = "";
    keyForm.hidden = true;
    question.focus();
  });

  function addMessage(role, text) {
    const div = document.createElement("div");
    div.className = `message ${role}`;
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    div.appendChild(body);
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
    return div;
  }

  function showSources(div, sources) {
    if (!sources || !sources.length) return;
    const box = document.createElement("div");
    box.className = "sources";
    box.textContent = "Sources:";
    const list = document.createElement("ul");
    for (const source of sources) {
      const item = document.createElement("li");
      item.textContent = source.title && source.title !== source.path ? `${source.path} (${source.title})` : source.path;
      list.appendChild(item);
    }
    box.appendChild(list);
    div.appendChild(box);
  }

  function showNotice(div, text) {
    const notice = document.createElement("span");
    notice.className = "notice";
    notice.textContent = text;
    div.appendChild(notice);
  }

  for (const turn of history) addMessage(turn.role === "user" ? "user" : "bot", turn.content);

  document.getElementById("new-chat").addEventListener("click", () => {
    history = [];
    saveHistory();
    for (const node of [...log.querySelectorAll(".message:not(.greeting)")]) node.remove();
    question.focus();
  });

  async function ask(text) {
    history.push({ role: "user", content: text });
    saveHistory();
    addMessage("user", text);
    const reply = addMessage("bot", "");
    const replyText = reply.querySelector(".text");
    reply.classList.add("typing");
    const headers = { "Content-Type": "application/json", Accept: "application/x-ndjson" };
    const key = sessionStorage.getItem(KEY_STORAGE);
    if (key) headers.Authorization = `Bearer ${key}`;
    let answer = "";
    try {
      const response = await fetch("/api/chat", {
        method: "POST", headers, body: JSON.stringify({ messages: history, stream: true }),
      });
      if (!response.ok) {
        let message = `The bot answered HTTP ${response.status}.`;
        try { message = (await response.json()).error.message || message; } catch { /* not JSON */ }
        if (response.status === 401) { sessionStorage.removeItem(KEY_STORAGE); showKeyForm(message); }
        history.pop();
        saveHistory();
        reply.classList.add("error");
        replyText.textContent = message;
        return;
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let newline;
        while ((newline = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, newline).trim();
          buffer = buffer.slice(newline + 1);
          if (!line) continue;
          const event = JSON.parse(line);
          if (event.type === "delta") {
            answer += event.text;
            replyText.textContent = answer;
            log.scrollTop = log.scrollHeight;
          } else if (event.type === "sources") {
            showSources(reply, event.sources);
          } else if (event.type === "error") {
            showNotice(reply, event.message);
          } else if (event.type === "done") {
            reply.dataset.mode = event.mode;
          }
        }
      }
      history.push({ role: "assistant", content: answer });
      saveHistory();
    } catch (error) {
      history.pop();
      saveHistory();
      reply.classList.add("error");
      replyText.textContent = answer || "The bot could not be reached. Check your connection and try again.";
    } finally {
      reply.classList.remove("typing");
      reply.dataset.complete = "true";
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = question.value.trim();
    if (!text || send.disabled) return;
    if (text.length > config.maxMessageChars) {
      addMessage("bot error", `Your message is too long (${text.length} characters; the limit is ${config.maxMessageChars}).`);
      return;
    }
    question.value = "";
    send.disabled = true;
    try { await ask(text); } finally { send.disabled = false; question.focus(); }
  });

  question.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
  });
})();
