"""Benchmark worker for the original system's Pillow transform (run by bench/cpu.ts and
bench/mem128.ts under Debian's /usr/bin/python3 with python3-pil).

    python3 pillow_worker.py cpu JOB.json   CPU time per image, one JSON line on stdout
    python3 pillow_worker.py once FILE...   the transform once per file (under bench/lambda-limits.ts)

The transform is the original Lambda's, as it was written:
    image = Image.open(f); image = image.convert('L'); image = image.resize((256, 256))
    image.save(out, 'JPEG')
and the same with image.draft('L', (256, 256)) before the convert ("pillow-draft").
Inputs are read into memory first and the outputs written to memory, as the Node side does.
Nothing here asserts anything about time: it measures.
"""
import io
import json
import os
import sys
import time

from PIL import Image


def original(data):
    image = Image.open(io.BytesIO(data))
    image = image.convert('L')
    image = image.resize((256, 256))
    out = io.BytesIO()
    image.save(out, 'JPEG')
    return out.getvalue()


def draft(data):
    image = Image.open(io.BytesIO(data))
    image.draft('L', (256, 256))
    image = image.convert('L')
    image = image.resize((256, 256))
    out = io.BytesIO()
    image.save(out, 'JPEG')
    return out.getvalue()


def draft_rgb(data):
    # Reference only: draft's DCT scaling without its luma-only decode.
    image = Image.open(io.BytesIO(data))
    image.draft('RGB', (256, 256))
    image = image.convert('L')
    image = image.resize((256, 256))
    out = io.BytesIO()
    image.save(out, 'JPEG')
    return out.getvalue()


def decode_only(data):
    # Reference only, not an output: pillow-draft's decode step alone.
    image = Image.open(io.BytesIO(data))
    image.draft('L', (256, 256))
    image.load()
    return b''


IMPLS = {'pillow': original, 'pillow-draft': draft, 'pillow-draft-rgb': draft_rgb, 'pillow-decode-only': decode_only}


def hwm_kb():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1])
    return None


def run_cpu(job):
    inputs = []
    for f in job['files']:
        with open(f, 'rb') as fh:
            inputs.append((os.path.basename(f), fh.read()))
    baseline = hwm_kb()
    results = []
    for name in job['impls']:
        impl = IMPLS[name]
        # Warm-up: two passes (the first pays any lazy initialisation); the second sizes the run.
        for _, data in inputs:
            impl(data)
        c0 = time.process_time()
        outputs = [impl(data) for _, data in inputs]
        warm_ms = (time.process_time() - c0) * 1000
        passes = max(job['minPasses'], min(job['maxPasses'], -(-job['targetMs'] // max(warm_ms, 0.001))))
        passes = int(passes)
        c0 = time.process_time()
        t0 = time.perf_counter()
        for _ in range(passes):
            for _, data in inputs:
                impl(data)
        cpu = (time.process_time() - c0) * 1000
        wall = (time.perf_counter() - t0) * 1000
        images = passes * len(inputs)
        if job.get('outDir') and not name.endswith('decode-only'):
            d = os.path.join(job['outDir'], name)
            os.makedirs(d, exist_ok=True)
            for (base, _), out in zip(inputs, outputs):
                with open(os.path.join(d, base), 'wb') as fh:
                    fh.write(out)
        results.append({
            'impl': name,
            'images': images,
            'passes': passes,
            'cpuMsPerImage': cpu / images,
            'wallMsPerImage': wall / images,
            'outBytes': sum(len(o) for o in outputs) / len(outputs),
        })
    print(json.dumps({'results': results, 'baselineRssKb': baseline, 'peakRssKb': hwm_kb()}))


def run_once(files):
    failed = 0
    for f in files:
        t0 = time.perf_counter()
        try:
            with open(f, 'rb') as fh:
                out = original(fh.read())
            print(json.dumps({'file': f, 'ok': True, 'outBytes': len(out), 'ms': (time.perf_counter() - t0) * 1000}))
        except Exception as e:  # noqa: BLE001 - reported, not hidden
            failed += 1
            print(json.dumps({'file': f, 'ok': False, 'error': repr(e)}))
        sys.stdout.flush()
    print(json.dumps({'peakRssKb': hwm_kb()}))
    return 1 if failed else 0


if __name__ == '__main__':
    mode = sys.argv[1]
    if mode == 'cpu':
        with open(sys.argv[2]) as fh:
            run_cpu(json.load(fh))
    elif mode == 'once':
        sys.exit(run_once(sys.argv[2:]))
    elif mode == 'version':
        import PIL
        print(PIL.__version__)
    else:
        sys.exit('usage: pillow_worker.py cpu JOB.json | once FILE... | version')
