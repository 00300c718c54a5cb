#!/usr/bin/env python3
"""The Python original in the race: aiokafka + the sample's JSON encoder.

    aiokafka_peer.py produce TOPIC N --records FILE   # FILE: `peers dump N` output
    aiokafka_peer.py consume TOPIC N [--group G] [--members M]

Broker: KAFKA_BROKERS. The records are the ones the Rust contenders send:
FILE holds them as JSON lines, decoded (untimed) into the dataclasses of
tests/python/sample.py; the producer encodes each with its SampleEncoder as
it sends, the consumer decodes with its object_hook. Group members are
coroutines of one process. Prints one JSON line, as the Rust binary does.
"""

import argparse
import asyncio
import collections
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "python"))
import sample  # noqa: E402

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402

IN_FLIGHT = 1000  # sends awaiting their acknowledgement, as in the Rust contenders
GROUP = dict(session_timeout_ms=6000, heartbeat_interval_ms=1000, auto_offset_reset="earliest")


def key(obj):
    """The record key kafka-codec writes for the same record (a Customer has none)."""
    if isinstance(obj, sample.Employee):
        return str(obj.employee_no).encode()
    if isinstance(obj, sample.Customer):
        return None
    if isinstance(obj, sample.Person):
        return obj.email.encode()
    return str(obj.customer_id).encode()


async def produce(servers, topic, n, records):
    with open(records, encoding="utf-8") as f:
        objs = [sample.decode(line) for line, _ in zip(f, range(n))]
    # acks="all" is librdkafka's default, which the Rust contenders keep.
    producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all")
    await producer.start()

    def send(obj):
        return producer.send(topic, sample.encode(obj).encode(), key=key(obj))

    await (await send(objs[0]))
    start = time.perf_counter()
    pending = collections.deque()
    for obj in objs[1:]:
        pending.append(await send(obj))
        if len(pending) >= IN_FLIGHT:
            await pending.popleft()
    await asyncio.gather(*pending)
    elapsed = time.perf_counter() - start
    await producer.stop()
    payload = sum(len(sample.encode(o).encode()) for o in objs) // n
    return dict(measure="produce", seconds=elapsed, payload_bytes_avg=payload)


async def consume(servers, topic, n, group, members):
    seen, times, deliveries, decoding = set(), [], [0], [0.0]
    consumers = []  # kept open to the process's end, like the Rust ones
    done = asyncio.Event()
    created = time.perf_counter()

    async def member():
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=servers, group_id=group, **GROUP)
        consumers.append(consumer)
        await consumer.start()
        async for msg in consumer:
            t = time.perf_counter()
            obj = sample.decode(msg.value)
            decoding[0] += time.perf_counter() - t
            if not times:
                times.append(time.perf_counter())
            deliveries[0] += 1
            seen.add(obj.id)
            if len(seen) >= n:
                times.append(time.perf_counter())
                done.set()
            if done.is_set():
                return

    tasks = [asyncio.create_task(member()) for _ in range(members)]
    finished, _ = await asyncio.wait(
        [*tasks, asyncio.create_task(done.wait())], return_when=asyncio.FIRST_COMPLETED)
    for task in finished:
        task.result()  # a member that failed ends the run with its error
    first, last = times
    return dict(measure="consume" if members == 1 else f"group{members}", seconds=last - first,
                first_record_s=first - created, duplicates=deliveries[0] - n, decode_s=decoding[0])


def peak_rss_kib():
    with open("/proc/self/status", encoding="ascii") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


async def run(a):
    servers = os.environ["KAFKA_BROKERS"]
    if a.command == "produce":
        result = await produce(servers, a.topic, a.n, a.records)
    else:
        group = a.group or f"peers-aiokafka-{a.topic}"
        result = await consume(servers, a.topic, a.n, group, a.members)
    line = dict(contender="aiokafka", records=a.n, **result)
    line["records_per_s"] = (a.n - 1) / line["seconds"]
    line["peak_rss_kib"] = peak_rss_kib()
    print(json.dumps(line), flush=True)
    os._exit(0)  # clients are left to the process's end, as in the Rust binary


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("command", choices=["produce", "consume"])
    p.add_argument("topic")
    p.add_argument("n", type=int)
    p.add_argument("--records", help="produce: the JSON lines to send")
    p.add_argument("--group")
    p.add_argument("--members", type=int, default=1)
    asyncio.run(run(p.parse_args()))

if __name__ == "__main__":
    main()
