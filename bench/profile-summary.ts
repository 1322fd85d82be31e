/** `node --import tsx bench/profile-summary.ts FILE.cpuprofile|DIR [N]`: top self-time functions and packages. */
import { statSync } from "node:fs";
import { formatProfile, newestProfile, summariseProfile } from "./lib/profile.js";

const [target, n] = process.argv.slice(2);
if (!target) {
  console.error("usage: profile-summary.ts FILE.cpuprofile|DIR [N]");
  process.exit(2);
}
const file = statSync(target).isDirectory() ? newestProfile(target) : target;
if (!file) throw new Error(`no .cpuprofile in ${target}`);
console.log(formatProfile(summariseProfile(file, n ? Number(n) : 15)));
