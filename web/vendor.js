// The chat page's third-party code, bundled by build.mjs into one file the bot serves itself.
// The page's own code (static/app.js) decides how these are used: see renderMarkdown there.
export { Marked } from "marked";
export { default as DOMPurify } from "dompurify";
