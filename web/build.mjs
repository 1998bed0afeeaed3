// Builds the web app into OUT (default ../build/share/xgw/web), the directory
// xgwd serves: OUT/index.html and OUT/assets/<name>-<hash>.<ext>. Every
// script and style sheet is bundled from web/src and the pinned packages in
// node_modules (package-lock.json): nothing is fetched at run time, and the
// page loads nothing from another origin.
//
//   node build.mjs [--out DIR]
import * as esbuild from "esbuild";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const outArg = process.argv.indexOf("--out");
const out = resolve(outArg > 0 ? process.argv[outArg + 1] : join(here, "..", "build", "share", "xgw", "web"));
const assets = join(out, "assets");
rmSync(out, { recursive: true, force: true });
mkdirSync(assets, { recursive: true });

const common = {
  bundle: true,
  minify: true,
  format: "esm",
  target: ["chrome120", "firefox120", "safari17"],
  outdir: assets,
  entryNames: "[name]-[hash]",
  metafile: true,
  legalComments: "linked",
  logLevel: "warning",
};

// The workers first: the page needs their hashed names.
const workers = await esbuild.build({ ...common, entryPoints: [join(here, "src", "key-worker.js")] });
const outputName = (meta, entry) =>
  basename(Object.entries(meta.outputs).find(([, o]) => o.entryPoint && o.entryPoint.endsWith(entry))[0]);
const keyWorker = outputName(workers.metafile, "src/key-worker.js");

const app = await esbuild.build({
  ...common,
  entryPoints: [join(here, "src", "app.js"), join(here, "src", "app.css")],
  define: { XGW_KEY_WORKER: JSON.stringify("/assets/" + keyWorker) },
});
const appJs = outputName(app.metafile, "src/app.js");
const appCss = outputName(app.metafile, "src/app.css");

const html = readFileSync(join(here, "src", "index.html"), "utf8")
  .replace("{{APP_JS}}", "/assets/" + appJs)
  .replace("{{APP_CSS}}", "/assets/" + appCss);
writeFileSync(join(out, "index.html"), html);

let bytes = 0;
for (const meta of [workers.metafile, app.metafile]) {
  for (const o of Object.values(meta.outputs)) bytes += o.bytes;
}
console.log(`web: built ${out} (${Math.round(bytes / 1024)} KiB of scripts and styles)`);
