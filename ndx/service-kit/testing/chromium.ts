import { chromium, type Browser } from 'playwright-core';

/**
 * Debian's Chromium driven by playwright-core, headless, with the flags this machine needs (no sandbox as
 * root, no background network traffic). Never a downloaded browser. CHROMIUM_PATH overrides the binary.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}
