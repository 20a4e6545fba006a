// Answers as HTML: Markdown rendered by marked, sanitised by DOMPurify (static/vendor.js, built from
// web/ at the versions its lockfile pins: docs/bot-server.md), redrawn without flicker while they
// stream, with a Copy button on each code block. Used by app.js as window.ChatMarkdown.
"use strict";

window.ChatMarkdown = (() => {
  const { Marked, DOMPurify } = window.ChatVendor;

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

  // Copy buttons anywhere under `root` (the conversation), by delegation: answers are redrawn.
  function handleCopyButtons(root) {
    root.addEventListener("click", async (event) => {
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
  }

  return { renderMarkdown, morph, handleCopyButtons };
})();
