// Bundles vendor.js (marked + DOMPurify, at the versions package-lock.json pins) into the bot's
// static files as one IIFE exposing `window.ChatVendor`. The output is committed; a test rebuilds it
// from the lockfile and fails if the two differ (docs/bot-server.md, "The page's JavaScript").
//   node build.mjs [OUTFILE]
import { build } from "esbuild";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const outfile = process.argv[2] ?? `${here}../bot_image/chatbot_server/static/vendor.js`;

// marked's notice is a plain comment that minifying drops; DOMPurify's (/*! ... */) is kept below.
const marked = JSON.parse(readFileSync(`${here}node_modules/marked/package.json`, "utf8"));
const banner = [
  "/* Built by web/build.mjs from web/package-lock.json: do not edit.",
  ` * marked v${marked.version}: Copyright (c) 2018+, MarkedJS; Copyright (c) 2011-2018, Christopher Jeffrey. MIT License.`,
  " */",
].join("\n");

await build({
  entryPoints: [`${here}vendor.js`],
  outfile,
  bundle: true,
  format: "iife",
  globalName: "ChatVendor",
  minify: true,
  // Browsers from 2020 on; marked feature-tests the newer regular expressions it uses.
  target: ["es2020"],
  // The libraries' licence notices travel with their code.
  legalComments: "eof",
  // Nothing that changes from one machine or run to the next.
  sourcemap: false,
  banner: { js: banner },
  logLevel: "warning",
});
