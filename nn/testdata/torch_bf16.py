"""Write a torch nn.Linear(3, 4)'s state dict in bfloat16 as a safetensors
file, by hand from the published format (the safetensors package is not
needed), and print the values as float32 lists in JSON.

usage: torch_bf16.py OUT.safetensors
"""
import json
import struct
import sys

import torch

torch.manual_seed(7)
lin = torch.nn.Linear(3, 4).to(torch.bfloat16)
sd = {k: v.detach().contiguous() for k, v in lin.state_dict().items()}
header, blobs, off = {}, [], 0
for name in sorted(sd):
    t = sd[name]
    raw = t.view(torch.int16).numpy().tobytes()  # little-endian bf16 bits
    header[name] = {"dtype": "BF16", "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
    blobs.append(raw)
    off += len(raw)
header["__metadata__"] = {"format": "pt"}
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(h)))
    f.write(h)
    for b in blobs:
        f.write(b)
print(json.dumps({k: v.float().flatten().tolist() for k, v in sd.items()}))
