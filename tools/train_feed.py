"""Feeding the demo-model trainer (tools/train_demo.py): render workers -> a queue -> a frame pool on the device.

``ChunkStream`` is the DataLoader dataset (chunks of ``demo_data.make_chunk``, each made once across workers),
``feeder`` the background thread that moves finished chunks into a small queue so the training loop never
blocks on a render, ``FramePool`` the most recent frames on the training device, from which every step draws
its batch, and ``validation_set`` the fixed frames whose loss the log reports. Training-only (torch).
"""
import queue

import torch
from torch.utils.data import IterableDataset, get_worker_info

from demo_data import chunk_ids, make_chunk, pack_frames, world_frames

VAL_SEED_BASE = 900_000_000   # validation frames (loss on fixed frames; `edgepose synth images --seed 900000000`)


class ChunkStream(IterableDataset):
    """Chunks ``first .. first + count - 1`` (``demo_data.make_chunk``), sharded over DataLoader workers."""

    def __init__(self, first, count, size, broad, per_sequence):
        self.first, self.count, self.size = first, count, size
        self.broad, self.per_sequence = broad, per_sequence

    def __iter__(self):
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        torch.set_num_threads(1)
        from edgepose import deps

        cv2 = deps.optional("cv2")
        if cv2 is not None:
            cv2.setNumThreads(1)  # one core per worker: the workers are the parallelism
        for c in chunk_ids(worker, workers, self.first, self.count):
            chunk = make_chunk(c, self.size, broad=self.broad, per_sequence=self.per_sequence)
            chunk["chunk"] = c
            yield chunk


class FramePool:
    """The most recent ``capacity`` rendered frames, on the training device; batches are drawn at random."""

    def __init__(self, capacity, size, device, people):
        h, w = size
        self.images = torch.zeros((capacity, h, w, 3), dtype=torch.uint8, device=device)
        self.kps = torch.zeros((capacity, people, 18, 3), dtype=torch.float32, device=device)
        self.pri = torch.zeros((capacity, people), dtype=torch.float32, device=device)
        self.capacity, self.filled, self.head, self.device = capacity, 0, 0, device

    def add(self, chunk):
        n = chunk["images"].shape[0]
        idx = (self.head + torch.arange(n)) % self.capacity
        idx = idx.to(self.device)
        self.images[idx] = chunk["images"].to(self.device, non_blocking=True)
        self.kps[idx] = chunk["keypoints"].to(self.device, non_blocking=True)
        self.pri[idx] = chunk["priority"].to(self.device, non_blocking=True)
        self.head = (self.head + n) % self.capacity
        self.filled = min(self.capacity, self.filled + n)
        return n

    def sample(self, batch, generator=None):
        idx = torch.randint(0, self.filled, (batch,), device=self.device, generator=generator)
        return self.images[idx], self.kps[idx], self.pri[idx]


def feeder(batches, out, stop):
    """Background thread: DataLoader chunks -> a small queue (the training loop never blocks on a render)."""
    try:
        for chunk in batches:
            while not stop.is_set():
                try:
                    out.put(chunk, timeout=0.5)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return
    except Exception as e:  # reported by the training loop
        out.put(e)


def validation_set(size, count, people):
    """Fixed validation frames of the demo world (seeds 900000000...), letterboxed, for the loss log."""
    frames = []
    seed = VAL_SEED_BASE
    while len(frames) < count:
        frames += world_frames(seed, size, per_sequence=4)
        seed += 1
    chunk = pack_frames(frames[:count], size)
    return {k: torch.from_numpy(v) for k, v in chunk.items()}
