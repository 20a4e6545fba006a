// The chat page. The conversation lives in the browser (localStorage) and is sent whole each turn;
// answers are Markdown, rendered with marked and sanitised with DOMPurify (static/vendor.js, built
// from web/ at the versions its lockfile pins: docs/bot-server.md).
"use strict";

(() => {
  const config = JSON.parse(document.getElementById("bot-config").textContent);
  const { Marked, DOMPurify } = window.ChatVendor;
  const log = document.getElementById("log");
  const form = document.getElementById("ask");
  const question = document.getElementById("question");
  const send = document.getElementById("send");
  const stop = document.getElementById("stop");
  const keyForm = document.getElementById("key-form");
  const keyInput = document.getElementById("api-key");
  const KEY_STORAGE = "chatbot-api-key"; // sessionStorage: a key lasts as long as the tab
  const HISTORY_STORAGE = "chatbot-conversation"; // localStorage: a conversation survives a reload
  const COMMENT_MAX = 2000;

  // --- Markdown, sanitised ------------------------------------------------------------------------

  const escapeHtml = (text) =>
    String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

  const markdown = new Marked({ gfm: true });
  markdown.use({
    renderer: {
      // An image in an answer is shown as a link: the browser would otherwise fetch any address an
      // answer names (a way for a prompt-injected answer to send data away), and the page loads
      // nothing but the bot's own files.
      image({ href, text }) {
        return `<a href="${escapeHtml(href)}">${escapeHtml(text || href)}</a>`;
      },
    },
  });

  const SANITIZE = {
    USE_PROFILES: { html: true },
    FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select", "img", "picture", "video", "audio", "iframe", "svg", "math"],
    FORBID_ATTR: ["style", "id", "class"],
    ALLOW_DATA_ATTR: false,
    RETURN_DOM_FRAGMENT: true,
  };
  // Links open in a new tab, without access to this page (noopener) or its address (noreferrer).
  // DOMPurify has already removed script, event handlers and javascript: URLs.
  DOMPurify.addHook("afterSanitizeAttributes", (node) => {
    if (node.tagName === "A" && node.hasAttribute("href")) {
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer");
    }
  });

  function renderMarkdown(text) {
    const fragment = DOMPurify.sanitize(markdown.parse(text), SANITIZE);
    for (const pre of fragment.querySelectorAll("pre")) {
      const block = document.createElement("div");
      block.className = "code-block";
      pre.replaceWith(block);
      const copy = document.createElement("button");
      copy.type = "button";
      copy.className = "copy";
      copy.textContent = "Copy";
      copy.setAttribute("aria-label", "Copy code");
      block.append(pre, copy);
    }
    return fragment;
  }

  // Replaces only what changed: while an answer streams, the blocks already written stay the same
  // nodes (no flicker, a selection or a link under the pointer survives), and only the last grows.
  function morph(target, fragment) {
    const next = [...fragment.childNodes];
    const current = [...target.childNodes];
    let same = 0;
    while (same < next.length && same < current.length && current[same].isEqualNode(next[same])) same++;
    for (const node of current.slice(same)) node.remove();
    target.append(...next.slice(same));
  }

  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    // Plain http (a bot behind a cluster-internal name): no Clipboard API, the older command works.
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.append(area);
    area.select();
    const copied = document.execCommand("copy");
    area.remove();
    if (!copied) throw new Error("copy refused");
  }

  log.addEventListener("click", async (event) => {
    const button = event.target.closest("button.copy");
    if (!button) return;
    const code = button.parentElement.querySelector("pre").innerText.replace(/\n$/, "");
    try {
      await copyText(code);
      button.textContent = "Copied";
    } catch {
      button.textContent = "Copy failed";
    }
    setTimeout(() => { button.textContent = "Copy"; }, 2000);
  });

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

  // --- Feedback -------------------------------------------------------------------------------------

  const THUMB =
    '<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" focusable="false"><path fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" d="M7 10v11H4a1 1 0 0 1-1-1v-9a1 1 0 0 1 1-1h3zm0 0 4-8a3 3 0 0 1 3 3v4h5.6a2 2 0 0 1 2 2.3l-1.4 8.4a2 2 0 0 1-2 1.3H7"/></svg>';

  function showFeedback(div, turn, questionText) {
    const box = document.createElement("div");
    box.className = "feedback";
    const buttons = document.createElement("div");
    buttons.className = "rate";
    buttons.setAttribute("role", "group");
    buttons.setAttribute("aria-label", "Rate this answer");
    const up = rateButton("up", "Good answer");
    const down = rateButton("down", "Bad answer");
    buttons.append(up, down);

    const commentForm = document.createElement("form");
    commentForm.className = "comment";
    commentForm.hidden = true;
    const id = `comment-${Math.random().toString(36).slice(2)}`;
    commentForm.innerHTML =
      `<label for="${id}">What was good or wrong? (optional)</label>` +
      `<textarea id="${id}" rows="2" maxlength="${COMMENT_MAX}"></textarea>` +
      '<button type="submit">Send feedback</button>';
    const comment = commentForm.querySelector("textarea");
    const status = document.createElement("span");
    status.className = "feedback-status";
    status.setAttribute("role", "status");
    box.append(buttons, commentForm, status);
    div.append(box);

    let rating = null;
    function choose(value) {
      rating = value;
      up.setAttribute("aria-pressed", String(value === "up"));
      down.setAttribute("aria-pressed", String(value === "down"));
      commentForm.hidden = false;
      comment.focus();
    }
    function done(fresh) {
      up.disabled = down.disabled = true;
      up.setAttribute("aria-pressed", String(turn.rating === "up"));
      down.setAttribute("aria-pressed", String(turn.rating === "down"));
      commentForm.hidden = true;
      if (fresh) status.textContent = "Thanks for your feedback.";
    }
    if (turn.rating) { done(false); return; }
    up.addEventListener("click", () => choose("up"));
    down.addEventListener("click", () => choose("down"));
    commentForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const submit = commentForm.querySelector("button");
      submit.disabled = true;
      status.textContent = "Sending…";
      const body = {
        rating,
        comment: comment.value.trim(),
        question: questionText,
        answer: turn.content,
        mode: turn.mode,
        sources: (turn.sources || []).map((source) => source.path),
      };
      try {
        const response = await fetch("/api/feedback", { method: "POST", headers: jsonHeaders(), body: JSON.stringify(body) });
        if (!response.ok) throw new Error(await errorMessage(response));
        turn.rating = rating;
        turn.comment = body.comment;
        save();
        done(true);
      } catch (error) {
        status.textContent = `Your feedback was not sent: ${error.message}`;
      } finally {
        submit.disabled = false;
      }
    });
  }

  function rateButton(value, label) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = `rate-${value}`;
    button.setAttribute("aria-pressed", "false");
    button.setAttribute("aria-label", label);
    button.title = label;
    button.innerHTML = THUMB;
    return button;
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
    // A stopped answer has no mode to report with a rating.
    if (turn.mode) showFeedback(div, turn, questionText);
  }

  let streaming = null; // the AbortController of the answer being streamed
  let conversation = 0; // "New chat" starts another: an answer still arriving belongs to none

  function setStreaming(controller) {
    streaming = controller;
    const busy = controller !== null;
    log.setAttribute("aria-busy", String(busy));
    send.hidden = busy;
    stop.hidden = !busy;
    if (!busy && document.activeElement === stop) question.focus();
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
  document.documentElement.dataset.ready = "true";
})();
