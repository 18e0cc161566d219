// The local mode's upload page: each picked or dropped image is uploaded through the upload API
// (POST uploads, then a PUT to the presigned URL it answers), and its state is asked every 250 ms
// until it is processed or rejected. Plain JavaScript, no framework, nothing but this server.
'use strict';

(function () {
  const POLL_MS = 250;
  const GIVE_UP_MS = 5 * 60 * 1000;
  const SVG = 'http://www.w3.org/2000/svg';

  const drop = document.getElementById('drop');
  const picker = document.getElementById('files');
  const list = document.getElementById('uploads');
  const empty = document.getElementById('empty');
  const announcer = document.getElementById('announcer');
  const settingsText = document.getElementById('settings');
  const chart = document.getElementById('chart');
  const chartSummary = document.getElementById('chart-summary');

  /** Latencies of the results seen, in upload order: { name, ms, ok }. */
  const latencies = [];
  let counter = 0;

  const NAMES = { 'image/jpeg': 'JPEG', 'image/png': 'PNG', 'image/webp': 'WebP', 'image/gif': 'GIF', 'image/tiff': 'TIFF', 'image/avif': 'AVIF', 'image/svg+xml': 'SVG' };

  function formatBytes(n) {
    if (n < 1024) return n + ' B';
    if (n < 1024 * 1024) return (n / 1024).toFixed(1) + ' KiB';
    return (n / 1024 / 1024).toFixed(1) + ' MiB';
  }

  function el(tag, props, children) {
    const node = document.createElement(tag);
    Object.assign(node, props || {});
    for (const child of children || []) node.append(child);
    return node;
  }

  function announce(text) {
    // A change of text is what screen readers read out of a live region.
    announcer.textContent = '';
    window.setTimeout(function () { announcer.textContent = text; }, 50);
  }

  async function loadSettings() {
    try {
      const res = await fetch('settings.json', { cache: 'no-store' });
      if (!res.ok) throw new Error(res.status + ' ' + res.statusText);
      const s = await res.json();
      picker.accept = s.acceptedContentTypes.join(',');
      const variants = s.variants.map(function (v) {
        const size = v.width && v.height ? v.width + '×' + v.height : v.width ? v.width + ' wide' : v.height ? v.height + ' high' : 'original size';
        return v.name + ' (' + size + (v.grayscale ? ', grayscale' : '') + ', ' + (v.format === 'original' ? 'same format' : v.format.toUpperCase()) + ')';
      });
      settingsText.textContent = 'Accepts ' + s.acceptedContentTypes.map(function (t) { return NAMES[t] || t; }).join(', ')
        + ' up to ' + formatBytes(s.maxUploadBytes) + '. Each image becomes: ' + variants.join('; ') + '.';
    } catch (e) {
      settingsText.textContent = 'The pipeline\'s settings could not be read (' + e.message + '); uploads are still checked by the API.';
    }
  }

  /** One upload's entry in the list, and the means to change it. */
  function entry(file) {
    counter++;
    const heading = el('h3', { id: 'upload-' + counter, textContent: file.name });
    const state = el('p', { className: 'state', textContent: 'Uploading…' });
    const before = el('img', { className: 'before', alt: 'Original: ' + file.name });
    const beforeCaption = el('figcaption', { textContent: 'Original, ' + formatBytes(file.size) });
    const images = el('div', { className: 'images' }, [el('figure', {}, [before, beforeCaption])]);
    const detail = el('p', { className: 'detail' });
    const item = el('li', { className: 'upload' }, [heading, state, images, detail]);
    item.dataset.state = 'uploading';
    item.setAttribute('aria-labelledby', heading.id);
    item.setAttribute('aria-busy', 'true');
    const objectUrl = URL.createObjectURL(file);
    before.addEventListener('load', function () {
      beforeCaption.textContent = 'Original, ' + before.naturalWidth + ' × ' + before.naturalHeight + ', ' + formatBytes(file.size);
    });
    before.addEventListener('error', function () {
      before.alt = 'No preview: the browser cannot show ' + file.name;
      beforeCaption.textContent = 'Original (no preview), ' + formatBytes(file.size);
    });
    before.src = objectUrl;
    list.prepend(item);
    empty.hidden = true;

    function set(name, text) {
      item.dataset.state = name;
      state.textContent = text;
      const done = name === 'processed' || name === 'rejected' || name === 'failed';
      item.setAttribute('aria-busy', done ? 'false' : 'true');
    }
    return {
      pending: function () { set('pending', 'Pending: waiting for the pipeline…'); },
      processed: function (result, ms) {
        set('processed', 'Processed in ' + ms + ' ms');
        for (const o of result.outputs) {
          const dims = o.width && o.height ? o.width + ' × ' + o.height : 'size unknown';
          const img = el('img', { className: 'after', alt: o.variant + ' of ' + file.name + ', ' + dims + ' ' + o.format.toUpperCase(), src: o.url });
          images.append(el('figure', {}, [img, el('figcaption', { textContent: o.variant + ': ' + dims + ' ' + o.format.toUpperCase() + ', ' + formatBytes(o.bytes) })]));
        }
        detail.textContent = 'Latency ' + ms + ' ms from upload to result.';
        announce(file.name + ' processed: ' + result.outputs.map(function (o) { return o.variant + ' ' + o.width + ' by ' + o.height; }).join(', ') + '.');
      },
      rejected: function (result, ms) {
        set('rejected', 'Rejected: ' + result.reason);
        detail.textContent = result.message + ' (after ' + ms + ' ms)';
        announce(file.name + ' rejected: ' + result.reason + '.');
      },
      failed: function (message) {
        set('failed', 'Not uploaded');
        detail.textContent = message;
        announce(file.name + ' not uploaded: ' + message);
      },
    };
  }

  async function apiError(res) {
    try {
      const body = await res.json();
      return body.message || body.error || (res.status + ' ' + res.statusText);
    } catch (e) {
      return res.status + ' ' + res.statusText;
    }
  }

  async function upload(file) {
    const view = entry(file);
    announce('Uploading ' + file.name + '.');
    try {
      const granted = await fetch('uploads', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ contentType: file.type || 'application/octet-stream', contentLength: file.size }),
      });
      if (!granted.ok) return view.failed(await apiError(granted));
      const grant = await granted.json();
      const put = await fetch(grant.upload.url, { method: grant.upload.method, headers: grant.upload.headers, body: file });
      if (!put.ok) return view.failed('the upload was refused (' + put.status + ' ' + put.statusText + ')');
      const uploadedAt = performance.now();
      view.pending();
      announce(file.name + ' uploaded; pending.');
      for (;;) {
        const res = await fetch(grant.statusPath.replace(/^\//, ''), { cache: 'no-store' });
        if (!res.ok) return view.failed(await apiError(res));
        const state = await res.json();
        const ms = Math.round(performance.now() - uploadedAt);
        if (state.status === 'processed') {
          view.processed(state, ms);
          return record(file.name, ms, true);
        }
        if (state.status === 'rejected') {
          view.rejected(state, ms);
          return record(file.name, ms, false);
        }
        if (ms > GIVE_UP_MS) return view.failed('no result after ' + Math.round(ms / 1000) + ' s; it may still come (see the serve output)');
        await new Promise(function (resolve) { window.setTimeout(resolve, POLL_MS); });
      }
    } catch (e) {
      view.failed(e.message);
    }
  }

  function record(name, ms, ok) {
    latencies.push({ name: name, ms: ms, ok: ok });
    drawChart();
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const k of Object.keys(attrs)) node.setAttribute(k, String(attrs[k]));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /** The running chart: one point per result, in the order they came, on a scale from 0 to the slowest. */
  function drawChart() {
    const W = 640; const H = 200; const left = 64; const bottom = 24; const top = 12; const right = 12;
    const max = Math.max.apply(null, latencies.map(function (l) { return l.ms; }).concat([1]));
    const x = function (i) { return latencies.length === 1 ? left + (W - left - right) / 2 : left + i * (W - left - right) / (latencies.length - 1); };
    const y = function (ms) { return top + (H - top - bottom) * (1 - ms / max); };
    chart.replaceChildren(
      svg('line', { class: 'axis', x1: left, y1: H - bottom, x2: W - right, y2: H - bottom }),
      svg('line', { class: 'axis', x1: left, y1: top, x2: left, y2: H - bottom }),
      svg('text', { class: 'label', x: left - 6, y: top + 4, 'text-anchor': 'end' }, max + ' ms'),
      svg('text', { class: 'label', x: left - 6, y: H - bottom, 'text-anchor': 'end' }, '0'),
      svg('text', { class: 'label', x: (W + left) / 2, y: H - 6, 'text-anchor': 'middle' }, 'results, in the order they came'),
    );
    if (latencies.length > 1) {
      chart.append(svg('polyline', { class: 'line', points: latencies.map(function (l, i) { return x(i) + ',' + y(l.ms); }).join(' ') }));
    }
    latencies.forEach(function (l, i) {
      const dot = svg('circle', { class: 'dot', cx: x(i), cy: y(l.ms), r: 4 });
      dot.append(svg('title', {}, l.name + ': ' + l.ms + ' ms' + (l.ok ? '' : ' (rejected)')));
      chart.append(dot);
    });
    const sorted = latencies.map(function (l) { return l.ms; }).sort(function (a, b) { return a - b; });
    const median = sorted[Math.floor((sorted.length - 1) / 2)];
    chartSummary.textContent = latencies.length + ' result' + (latencies.length === 1 ? '' : 's') + ': median ' + median + ' ms, '
      + 'fastest ' + sorted[0] + ' ms, slowest ' + sorted[sorted.length - 1] + ' ms; latest ' + latencies[latencies.length - 1].ms + ' ms.';
  }

  function take(files) {
    for (const file of Array.from(files)) upload(file);
  }

  drop.addEventListener('click', function () { picker.click(); });
  drop.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      picker.click();
    }
  });
  drop.addEventListener('dragover', function (e) {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', function () { drop.classList.remove('over'); });
  drop.addEventListener('drop', function (e) {
    e.preventDefault();
    drop.classList.remove('over');
    take(e.dataTransfer.files);
  });
  picker.addEventListener('change', function () {
    take(picker.files);
    picker.value = '';
  });

  loadSettings();
}());
