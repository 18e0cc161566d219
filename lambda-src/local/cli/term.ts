/** Terminal output: tables, sizes, a progress bar that only draws on a terminal. */

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** A plain-text table; numeric-looking columns are right-aligned. */
export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => /^[\d.,]+( [KMG]?i?B| ms)?$|^-$/.test(String(r[i]))));
  const line = (r: string[]) => r.map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

export class Progress {
  private readonly tty: boolean;
  private done = 0;
  private readonly started = Date.now();

  constructor(private readonly total: number, private readonly label: string, private readonly stream: NodeJS.WriteStream = process.stderr) {
    this.tty = Boolean(stream.isTTY);
  }

  tick(what = ''): void {
    this.done++;
    if (!this.tty) return;
    const width = 30;
    const filled = Math.round((this.done / Math.max(1, this.total)) * width);
    const secs = ((Date.now() - this.started) / 1000).toFixed(1);
    const name = what.length > 40 ? `…${what.slice(-39)}` : what;
    this.stream.write(`\r\x1b[2K${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.done}/${this.total} ${secs}s ${name}`);
  }

  end(): void {
    if (this.tty) this.stream.write('\r\x1b[2K');
  }
}
