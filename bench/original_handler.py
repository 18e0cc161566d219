"""The original system's Lambda handler, run the way Lambda runs it (spawned by
bench/handler-cost-worker.ts under Debian's /usr/bin/python3 with python3-boto3 and python3-pil,
possibly under a memory size's limits).

    python3 original_handler.py JOB.json

The module-level code is the function's init (imports, the client); lambda_handler is the
original's handler as it was written: boto3 get_object, Pillow open + convert('L') +
resize((256, 256)) + save(format='JPEG'), boto3 put_object to OUTPUT_BUCKET under the same key.
The driver below times the init, runs the warm-up events, then the measured ones, and prints one
JSON line: the CPU time of this process over the measured invocations and each one's duration.
Measures; asserts nothing.
"""
import json
import sys
import time

_t0 = time.perf_counter()
_c0 = time.process_time()

import io  # noqa: E402
import os  # noqa: E402
from urllib.parse import unquote_plus  # noqa: E402

import boto3  # noqa: E402
from PIL import Image  # noqa: E402

# The local endpoint stands in for S3 (the handler itself is unchanged).
s3 = boto3.client('s3', endpoint_url=os.environ.get('BENCH_S3_ENDPOINT'))
OUTPUT_BUCKET = os.environ['OUTPUT_BUCKET']

_init_ms = (time.perf_counter() - _t0) * 1000
_init_cpu_ms = (time.process_time() - _c0) * 1000


def lambda_handler(event, context):
    for record in event['Records']:
        bucket = record['s3']['bucket']['name']
        key = unquote_plus(record['s3']['object']['key'])
        response = s3.get_object(Bucket=bucket, Key=key)
        image = Image.open(io.BytesIO(response['Body'].read()))
        image = image.convert('L')
        image = image.resize((256, 256))
        buffer = io.BytesIO()
        image.save(buffer, format='JPEG')
        buffer.seek(0)
        s3.put_object(Bucket=OUTPUT_BUCKET, Key=key, Body=buffer, ContentType='image/jpeg')
    return {'statusCode': 200}


def main():
    with open(sys.argv[1]) as f:
        job = json.load(f)
    for event in job['warmup']:
        lambda_handler(event, None)
    c = time.process_time()
    durations = []
    for event in job['invocations']:
        s = time.perf_counter()
        lambda_handler(event, None)
        durations.append((time.perf_counter() - s) * 1000)
    cpu = (time.process_time() - c) * 1000
    print(json.dumps({
        'initMs': _init_ms,
        'initCpuMs': _init_cpu_ms,
        'cpuMs': cpu,
        'durationsMs': durations,
        'logBytes': 0,
        'logLines': 0,
        'failures': 0,
    }))


if __name__ == '__main__':
    main()
