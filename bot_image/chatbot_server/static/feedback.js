// Feedback on answers: POST /api/feedback with what the user was shown (docs/bot-server.md,
// "Feedback"). Used by app.js as window.ChatFeedback.
"use strict";

window.ChatFeedback = (() => {
  const COMMENT_MAX = 2000; // as the bot checks it

  const THUMB =
    '<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" focusable="false"><path fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" d="M7 10v11H4a1 1 0 0 1-1-1v-9a1 1 0 0 1 1-1h3zm0 0 4-8a3 3 0 0 1 3 3v4h5.6a2 2 0 0 1 2 2.3l-1.4 8.4a2 2 0 0 1-2 1.3H7"/></svg>';

  // Thumbs up or down under an answer; the rating, with an optional comment, is posted once.
  // `client` is the page's: {jsonHeaders(), errorMessage(response), save()}.
  function showFeedback(div, turn, questionText, client) {
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
        const response = await fetch("/api/feedback", { method: "POST", headers: client.jsonHeaders(), body: JSON.stringify(body) });
        if (!response.ok) throw new Error(await client.errorMessage(response));
        turn.rating = rating;
        turn.comment = body.comment;
        client.save();
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

  return { showFeedback };
})();
