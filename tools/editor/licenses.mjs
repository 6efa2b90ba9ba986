// Prints the name, version and license text of every package that goes into the bundle (all of
// node_modules except the build tool), for codemirror.LICENSE.txt.
import { readdirSync, readFileSync, existsSync } from "node:fs";
import { join } from "node:path";

const root = "node_modules";
const dirs = [];
for (const d of readdirSync(root).sort()) {
  if (d.startsWith(".")) continue;
  if (d.startsWith("@")) for (const s of readdirSync(join(root, d)).sort()) dirs.push(join(d, s));
  else dirs.push(d);
}
const out = ["Third-party software bundled in codemirror.js (built by scripts/build-editor.sh):", ""];
for (const d of dirs) {
  if (d === "esbuild" || d.startsWith("@esbuild/")) continue; // the build tool, not in the bundle
  const pkg = JSON.parse(readFileSync(join(root, d, "package.json"), "utf8"));
  const file = readdirSync(join(root, d)).find((f) => /^(licen[cs]e|copying)/i.test(f));
  out.push(`== ${pkg.name} ${pkg.version} (${pkg.license}) ==`);
  out.push(file && existsSync(join(root, d, file)) ? readFileSync(join(root, d, file), "utf8").trim() : "(no license file)");
  out.push("");
}
console.log(out.join("\n"));
