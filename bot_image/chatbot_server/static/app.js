// The chat page. The conversation lives in the browser (localStorage) and is sent with each
// question; answers stream in as Markdown (markdown.js) and take a rating (feedback.js).
"use strict";

(() => {
  const config = JSON.parse(document.getElementById("bot-config").textContent);
  const { renderMarkdown, morph, handleCopyButtons } = window.ChatMarkdown;
  const { showFeedback } = window.ChatFeedback;
  const log = document.getElementById("log");
  const form = document.getElementById("ask");
  const question = document.getElementById("question");
  const send = document.getElementById("send");
  const stop = document.getElementById("stop");
  const keyForm = document.getElementById("key-form");
  const keyInput = document.getElementById("api-key");
  const KEY_STORAGE = "chatbot-api-key"; // sessionStorage: a key lasts as long as the tab
  const HISTORY_STORAGE = "chatbot-conversation"; // localStorage: a conversation survives a reload

  // --- The conversation, kept in the browser -------------------------------------------------------

  // turns: [{role: "user", content} | {role: "assistant", content, mode, sources, rating, comment}]
  let turns = [];
  try {
    const saved = JSON.parse(localStorage.getItem(HISTORY_STORAGE) || "[]");
    if (Array.isArray(saved)) turns = saved.filter((t) => t && typeof t.content === "string");
  } catch { turns = []; }

  function save() {
    try { localStorage.setItem(HISTORY_STORAGE, JSON.stringify(turns)); } catch { /* full or disabled */ }
  }

  function nearBottom() { return log.scrollHeight - log.scrollTop - log.clientHeight < 80; }
  function scrollDown() { log.scrollTop = log.scrollHeight; }

  function addMessage(role, text) {
    const div = document.createElement("div");
    div.className = `message ${role}`;
    const body = document.createElement("div");
    body.className = "text";
    if (role === "user") body.textContent = text;
    else if (text) body.append(renderMarkdown(text));
    div.append(body);
    log.append(div);
    scrollDown();
    return div;
  }

  function showSources(div, sources) {
    if (!sources || !sources.length) return;
    const box = document.createElement("div");
    box.className = "sources";
    const heading = document.createElement("span");
    heading.className = "sources-heading";
    heading.textContent = "Sources";
    const list = document.createElement("ol");
    list.setAttribute("aria-label", "Sources");
    const seen = new Set();
    for (const source of sources) {
      const key = `${source.path}\n${source.title}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const item = document.createElement("li");
      // The title is the passage's heading path ("Guide > Install > Options").
      const title = (source.title || source.path).split(" > ").join(" › ");
      let label;
      if (source.url && /^https:\/\//.test(source.url)) {
        label = document.createElement("a");
        label.href = source.url;
        label.target = "_blank";
        label.rel = "noopener noreferrer";
      } else {
        label = document.createElement("span");
      }
      label.className = "source-title";
      label.textContent = title;
      const path = document.createElement("span");
      path.className = "source-path";
      path.textContent = source.path;
      item.append(label, " ", path);
      list.append(item);
    }
    box.append(heading, list);
    div.append(box);
  }

  function showNotice(div, text) {
    const notice = document.createElement("p");
    notice.className = "notice";
    notice.textContent = text;
    div.append(notice);
  }

  // --- Talking to the bot ---------------------------------------------------------------------------

  function jsonHeaders(accept = "application/json") {
    const headers = { "Content-Type": "application/json", Accept: accept };
    const key = sessionStorage.getItem(KEY_STORAGE);
    if (key) headers.Authorization = `Bearer ${key}`;
    return headers;
  }

  async function errorMessage(response) {
    let message = `The bot answered HTTP ${response.status}.`;
    try { message = (await response.json()).error.message || message; } catch { /* not JSON */ }
    if (response.status === 401) { sessionStorage.removeItem(KEY_STORAGE); showKeyForm(message); }
    return message;
  }

  function showKeyForm(message) {
    keyForm.hidden = false;
    if (message) keyForm.querySelector("label").textContent = message;
    keyInput.focus();
  }

  keyForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const key = keyInput.value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY_STORAGE, key);
    keyInput.value = "";
    keyForm.hidden = true;
    question.focus();
  });

  function showAnswer(div, turn, questionText) {
    if (turn.sources) showSources(div, turn.sources);
    // With fallback models configured, which one answered is worth knowing.
    if (turn.model) {
      const by = document.createElement("p");
      by.className = "answered-by";
      by.textContent = `Answered by ${turn.model}`;
      div.appendChild(by);
    }
    // A stopped answer has no mode to report with a rating.
    if (turn.mode) showFeedback(div, turn, questionText, { jsonHeaders, errorMessage, save });
  }

  let streaming = null; // the AbortController of the answer being streamed
  let conversation = 0; // "New chat" starts another: an answer still arriving belongs to none

  function setStreaming(controller) {
    streaming = controller;
    const busy = controller !== null;
    // Send and Stop take turns in one place: the focus moves with them instead of being lost.
    const focused = document.activeElement;
    log.setAttribute("aria-busy", String(busy));
    send.hidden = busy;
    stop.hidden = !busy;
    if (busy && focused === send) stop.focus();
    if (!busy && focused === stop) question.focus();
  }

  async function ask(text) {
    const started = conversation;
    turns.push({ role: "user", content: text });
    save();
    addMessage("user", text);
    const reply = addMessage("bot", "");
    const replyText = reply.querySelector(".text");
    reply.classList.add("typing");
    const controller = new AbortController();
    setStreaming(controller);
    const turn = { role: "assistant", content: "", mode: null, sources: [] };
    let frame = 0;
    const render = () => {
      frame = 0;
      const follow = nearBottom();
      morph(replyText, renderMarkdown(turn.content));
      if (follow) scrollDown();
    };
    try {
      // A long conversation is sent from its latest turns (the bot keeps what fits its context
      // budget anyway), so it never outgrows the bot's limit on messages.
      const messages = turns.slice(-config.maxMessages).map(({ role, content }) => ({ role, content }));
      const response = await fetch("/api/chat", {
        method: "POST",
        headers: jsonHeaders("application/x-ndjson"),
        body: JSON.stringify({ messages, stream: true }),
        signal: controller.signal,
      });
      if (!response.ok) {
        const message = await errorMessage(response);
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
            turn.content += event.text;
            // At most one render per frame, however fast the pieces come.
            if (!frame) frame = requestAnimationFrame(render);
          } else if (event.type === "sources") {
            turn.sources = event.sources;
          } else if (event.type === "error") {
            showNotice(reply, event.message);
          } else if (event.type === "done") {
            turn.mode = event.mode;
            turn.model = event.model;
            reply.dataset.mode = event.mode;
          }
        }
      }
    } catch (error) {
      if (error.name !== "AbortError") {
        reply.classList.add("error");
        if (!turn.content) replyText.textContent = "The bot could not be reached. Check your connection and try again.";
      } else {
        showNotice(reply, turn.content ? "Stopped." : "Stopped before an answer.");
      }
    } finally {
      if (frame) cancelAnimationFrame(frame);
      if (started !== conversation) {
        setStreaming(null);
        return; // its question and its message are gone with the old conversation
      }
      if (turn.content) {
        render();
        turns.push(turn);
        showAnswer(reply, turn, text);
      } else if (turns.at(-1)?.role === "user") {
        turns.pop(); // no answer: the question is not part of the conversation sent next time
      }
      save();
      reply.classList.remove("typing");
      reply.dataset.complete = "true";
      setStreaming(null);
    }
  }

  stop.addEventListener("click", () => streaming?.abort());

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = question.value.trim();
    if (!text || streaming) return;
    if (text.length > config.maxMessageChars) {
      addMessage("bot error", `Your message is too long (${text.length} characters; the limit is ${config.maxMessageChars}).`);
      return;
    }
    question.value = "";
    await ask(text);
  });

  question.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    } else if (event.key === "Escape" && streaming) {
      streaming.abort();
    }
  });

  document.getElementById("new-chat").addEventListener("click", () => {
    conversation += 1;
    streaming?.abort();
    turns = [];
    save();
    for (const node of [...log.querySelectorAll(".message:not(.greeting)")]) node.remove();
    question.focus();
  });

  // --- Start: the greeting, then the kept conversation ------------------------------------------------

  handleCopyButtons(log);
  const greeting = document.querySelector("#greeting .text");
  greeting.replaceChildren(renderMarkdown(config.greeting));
  if (config.authRequired && !sessionStorage.getItem(KEY_STORAGE)) showKeyForm();
  log.setAttribute("aria-busy", "true"); // the kept conversation is not news to announce
  let lastQuestion = "";
  for (const turn of turns) {
    if (turn.role === "user") {
      lastQuestion = turn.content;
      addMessage("user", turn.content);
    } else {
      const div = addMessage("bot", turn.content);
      div.dataset.complete = "true";
      if (turn.mode) div.dataset.mode = turn.mode;
      showAnswer(div, turn, lastQuestion);
    }
  }
  log.setAttribute("aria-busy", "false");
})();
