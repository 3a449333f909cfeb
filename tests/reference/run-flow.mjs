// Runs one Chrome Recorder user flow with the reference runner (@puppeteer/replay on
// puppeteer-core) and prints PASS or FAIL with the reason. errand's differential test
// (agent/tests/flows.rs, `matches_the_reference_runner`) runs the same flows through
// both runners and compares. Usage: node run-flow.mjs FLOW.json
// Needs `npm install @puppeteer/replay puppeteer-core` in the folder this file is run
// from (see tests/reference/README.md); Chromium from $CHROME or /usr/bin/chromium.
import fs from 'node:fs';
import { createRunner, parse, PuppeteerRunnerExtension } from '@puppeteer/replay';
import puppeteer from 'puppeteer-core';

const flow = parse(JSON.parse(fs.readFileSync(process.argv[2], 'utf8')));
const browser = await puppeteer.launch({
  executablePath: process.env.CHROME || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--site-per-process', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});
// Remembers the step under way, to name it in a failure.
class Named extends PuppeteerRunnerExtension {
  step = 0;
  async beforeEachStep(step, f) {
    this.step = f.steps.indexOf(step) + 1;
  }
}
let ext;
try {
  const page = await browser.newPage();
  ext = new Named(browser, page);
  const runner = await createRunner(flow, ext);
  await runner.run();
  console.log('PASS');
} catch (e) {
  console.log('FAIL at step ' + (ext ? ext.step : 0) + ': ' + String(e && e.message).split('\n')[0]);
  process.exitCode = 1;
} finally {
  await browser.close();
}
