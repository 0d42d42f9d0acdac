"""Ring all-reduce projection of BENCHMARKS.md (issue 23). Input: the output of
  mpirun -np 2 --mca btl tcp,self target/release/examples/data_parallel --bench-allreduce > ar.txt
Run: python3 bench/mpi_projection.py ar.txt (needs numpy).
"""
import re, sys
import numpy as np
rows=[l for l in open(sys.argv[1]) if '4^' in l]
S=[];T=[];small=[]
for l in rows:
    m=re.search(r'(\d+) floats, ([\d.]+) s',l); n=int(m.group(1)); t=float(m.group(2))
    if n<=4: small.append(t)
    if n>=1024: S.append(n*4); T.append(t)
S=np.array(S,float);T=np.array(T)
A=np.vstack([np.ones_like(S),S]).T
(a,c),*_=np.linalg.lstsq(A,T,rcond=None)
# Latency: half the smallest all-reduce (np = 2 has two latency terms); per-byte cost: the
# slope of a least-squares fit over 4 KB-64 MB.
alpha=min(small)/2
print(f"fit np=2 tcp: T = {a*1e6:.1f} us + S * {c*1e9:.3f} ns/B  -> alpha={alpha*1e6:.1f} us, loopback {1/c/1e9:.2f} GB/s")
models={"W1 seed CNN 28x28 (61,514 weights, 3122 img/s)":(61514,1/3122),"MobileNetV2 64x64 (2,270,794, 268 img/s)":(2270794,1/267.9),"ResNet50 64x64 (23,608,202, 37 img/s)":(23608202,1/37.0)}
for name,(w,ts) in models.items():
    Sb=w*4
    print(name)
    for p in [8,32,128]:
        out=[]
        for gbps in [10,25,100]:
            B=gbps*1e9/8
            Tc=2*(p-1)*alpha+2*(p-1)/p*Sb/B+(p-1)/p*Sb*c
            b=9*Tc/ts
            out.append(f"{gbps} Gb/s: {Tc*1e3:.2f} ms, batch/node >= {int(np.ceil(b))}")
        print(f"  p={p}: "+" | ".join(out))
