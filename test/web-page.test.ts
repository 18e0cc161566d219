/**
 * The local mode's web page in a real browser: Debian's chromium, driven by puppeteer-core, against
 * `image-pipeline serve` as a user starts it. A broken file and a PNG are picked with the keyboard,
 * and a photograph is dropped on the page; the test asserts what a person sees (text, the images'
 * natural sizes, the ARIA states and the live region) and that the page reaches nothing but the
 * local server. Screenshots go to test-artifacts/ (gitignored); with UPDATE_DOCS_SCREENSHOT=1 the
 * README's docs/web-page.png is rewritten from the same run.
 *
 * Where chromium is missing the test says that it did not run (in CI it fails instead).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import sharp from 'sharp';
import { testWithClient, type Client } from './clients';
import { startServe, type Served } from './serve-process';

// The callbacks given to the page run in the browser, with its DOM; this project's types have none.
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any;
declare const DataTransfer: any;
declare const DragEvent: any;
declare const File: any;

const CHROMIUM: Client = { name: 'Debian\'s chromium', path: '/usr/bin/chromium', install: 'apt-get install chromium' };
const ARTIFACTS = path.join(__dirname, '..', 'test-artifacts');
const DOCS_SCREENSHOT = path.join(__dirname, '..', 'docs', 'web-page.png');

/** Photographs Debian's wallpaper packages ship, when one is installed; otherwise one is made. */
const PHOTO_DIRS = ['/usr/share/backgrounds/mate/nature', '/usr/share/backgrounds'];

async function aPhotograph(dir: string): Promise<{ file: string; what: string }> {
  for (const d of PHOTO_DIRS) {
    const found = fs.existsSync(d) ? fs.readdirSync(d).filter((f) => /\.jpe?g$/i.test(f)).sort()[0] : undefined;
    if (found) return { file: path.join(d, found), what: `the photograph ${path.join(d, found)}` };
  }
  const file = path.join(dir, 'photograph.jpg');
  await sharp({ create: { width: 1600, height: 1067, channels: 3, background: '#6b8f4e', noise: { type: 'gaussian', mean: 120, sigma: 45 } } })
    .blur(1.2).jpeg({ quality: 85 }).toFile(file);
  return { file, what: 'a generated 1600x1067 JPEG (no wallpaper package installed)' };
}

interface Seen {
  name: string;
  state: string;
  busy: string | null;
  stateText: string;
  detail: string;
  images: { alt: string; width: number; height: number; complete: boolean; caption: string }[];
}

async function seen(page: Page): Promise<Seen[]> {
  return page.$$eval('li.upload', (items: any[]) => items.map((li: any) => ({
    name: li.querySelector('h3')!.textContent!,
    state: li.dataset.state,
    busy: li.getAttribute('aria-busy'),
    stateText: li.querySelector('.state')!.textContent!,
    detail: li.querySelector('.detail')!.textContent!,
    images: [...li.querySelectorAll('figure')].map((f: any) => {
      const img = f.querySelector('img')!;
      return { alt: img.alt, width: img.naturalWidth, height: img.naturalHeight, complete: img.complete, caption: f.querySelector('figcaption')!.textContent! };
    }),
  })));
}

testWithClient(CHROMIUM, 'the web page: pick a broken file and a PNG with the keyboard, drop a photograph, see each result', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'web-page-'));
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  let served: Served | undefined;
  let browser: Browser | undefined;
  try {
    const photo = await aPhotograph(tmp);
    process.stdout.write(`web page test: uploading ${photo.what}\n`);
    const broken = path.join(tmp, 'broken.jpg');
    fs.writeFileSync(broken, Buffer.from('not a JPEG, whatever its name says. '.repeat(50)));
    const png = path.join(tmp, 'picked.png');
    await sharp({ create: { width: 320, height: 200, channels: 4, background: { r: 200, g: 60, b: 30, alpha: 0.8 } } }).png().toFile(png);

    // GIVEN serve, as a user starts it: its banner prints the page's URL
    const started = await startServe(['--data', path.join(tmp, 'data')]);
    served = started.served;
    const url = (await served.waitFor(/web page:\s+(http:\/\/\S+\/_pipeline\/)/))[1];
    expect(url).toBe(`${started.endpoint}/_pipeline/`);
    const origin = new URL(url).origin;

    browser = await puppeteer.launch({
      executablePath: CHROMIUM.path,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
    });
    const page = await browser.newPage();
    await page.setViewport({ width: 1100, height: 1000 });
    // nothing but the local server: every other request is recorded and refused
    const elsewhere: string[] = [];
    await page.setRequestInterception(true);
    page.on('request', (req) => {
      const u = req.url();
      if (u.startsWith(`${origin}/`) || u.startsWith('blob:') || u.startsWith('data:')) {
        void req.continue();
      } else {
        elsewhere.push(u);
        void req.abort();
      }
    });
    const consoleErrors: string[] = [];
    page.on('pageerror', (e) => consoleErrors.push(String(e)));

    // WHEN the page is opened
    await page.goto(url, { waitUntil: 'networkidle0' });
    expect(await page.title()).toBe('Image pipeline: upload');
    await page.waitForFunction(() => !document.getElementById('settings')!.textContent!.startsWith('Reading'));
    expect(await page.$eval('#settings', (e) => e.textContent)).toBe(
      'Accepts JPEG, PNG, WebP, GIF, TIFF, AVIF up to 50.0 MiB. Each image becomes: grayscale-256 (256×256, grayscale, JPEG).');
    expect(await page.$eval('#files', (e: any) => e.accept)).toBe('image/jpeg,image/png,image/webp,image/gif,image/tiff,image/avif');
    // the picker has a label; the drop zone is a focusable button described by its help text
    expect(await page.$eval('label[for="files"]', (e) => e.textContent)).toBe('Choose images:');
    expect(await page.$eval('#drop', (e) => [e.getAttribute('role'), e.getAttribute('tabindex'), document.getElementById(e.getAttribute('aria-describedby')!)!.textContent]))
      .toEqual(['button', '0', 'or press Enter or Space to choose files']);
    expect(await page.$eval('#announcer', (e) => [e.getAttribute('role'), e.getAttribute('aria-live')])).toEqual(['status', 'polite']);

    // AND a person tabs to the drop zone and presses Enter: the file chooser opens; they pick two files
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('drop');
    // the file chooser is intercepted before the key is pressed (over CDP, awaited, so no race)
    const cdp = await page.createCDPSession();
    await cdp.send('Page.enable');
    await cdp.send('Page.setInterceptFileChooserDialog', { enabled: true });
    const opened = new Promise<{ backendNodeId?: number; mode: string }>((resolve) => cdp.once('Page.fileChooserOpened', resolve));
    await page.keyboard.press('Enter');
    const chooser = await opened;
    expect(chooser.mode).toBe('selectMultiple');
    await cdp.send('DOM.setFileInputFiles', { files: [broken, png], backendNodeId: chooser.backendNodeId });
    // AND drops a photograph on the drop zone
    await page.evaluate((b64: string, name: string) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], name, { type: 'image/jpeg' }));
      document.getElementById('drop')!.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, fs.readFileSync(photo.file).toString('base64'), path.basename(photo.file));

    // THEN each goes pending, then processed or rejected
    await page.waitForFunction(() => {
      const items: any[] = [...document.querySelectorAll('li.upload')];
      return items.length === 3 && items.every((li) => li.getAttribute('aria-busy') === 'false')
        && [...document.querySelectorAll('img')].every((img: any) => img.complete);
    }, { timeout: 90_000 });
    const items = await seen(page);
    const byName = Object.fromEntries(items.map((i) => [i.name, i]));
    const photoName = path.basename(photo.file);
    expect(Object.keys(byName).sort()).toEqual(['broken.jpg', 'picked.png', photoName].sort());

    const processed = byName[photoName];
    expect(processed.state).toBe('processed');
    expect(processed.stateText).toMatch(/^Processed in \d+ ms$/);
    expect(processed.detail).toMatch(/^Latency \d+ ms from upload to result\.$/);
    const [before, after] = processed.images;
    const meta = await sharp(photo.file).metadata();
    // the original as the browser shows it (EXIF orientation applied), its size in its caption
    expect(before.width * before.height).toBe(meta.width! * meta.height!);
    expect(before.caption).toMatch(new RegExp(`^Original, ${before.width} × ${before.height}, `));
    // the result: 256x256, as the caption and the alternative text say
    expect([after.width, after.height]).toEqual([256, 256]);
    expect(after.alt).toBe(`grayscale-256 of ${photoName}, 256 × 256 JPEG`);
    expect(after.caption).toMatch(/^grayscale-256: 256 × 256 JPEG, [\d.]+ KiB$/);

    const rejected = byName['broken.jpg'];
    expect(rejected.state).toBe('rejected');
    expect(rejected.stateText).toBe('Rejected: unsupported-format');
    expect(rejected.detail).toMatch(/^the object is not an image in a format this pipeline reads \(after \d+ ms\)$/);
    expect(rejected.images).toHaveLength(1);
    expect(rejected.images[0].alt).toBe('No preview: the browser cannot show broken.jpg');
    expect(rejected.images[0].width).toBe(0);

    const picked = byName['picked.png'];
    expect(picked.state).toBe('processed');
    expect(picked.images.map((i) => [i.width, i.height])).toEqual([[320, 200], [256, 256]]);

    // the live region said the last outcome; the chart has a point per result and says the figures
    await page.waitForFunction(() => document.getElementById('announcer')!.textContent !== '');
    expect(await page.$eval('#announcer', (e) => e.textContent)).toMatch(/ (processed: grayscale-256 256 by 256|rejected: unsupported-format)\.$/);
    expect(await page.$$eval('#chart circle', (c) => c.length)).toBe(3);
    expect(await page.$eval('#chart-summary', (e) => e.textContent)).toMatch(/^3 results: median \d+ ms, fastest \d+ ms, slowest \d+ ms; latest \d+ ms\.$/);

    expect(elsewhere).toEqual([]);
    expect(consoleErrors).toEqual([]);

    const shot = path.join(ARTIFACTS, 'web-page.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(fs.statSync(shot).size).toBeGreaterThan(10_000);
    if (process.env.UPDATE_DOCS_SCREENSHOT === '1') {
      fs.mkdirSync(path.dirname(DOCS_SCREENSHOT), { recursive: true });
      fs.copyFileSync(shot, DOCS_SCREENSHOT);
    }
  } finally {
    await browser?.close();
    served?.killGroup();
    await served?.exited;
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}, 150_000);
