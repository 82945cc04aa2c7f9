#!/usr/bin/env python3
"""Writes fuzz/seeds/connection/ from the captured exchanges in tests/data/*.rtsp: for every
connection, what the client sent, behind the connection target's 3-byte prefix (server, chunk
size, milliseconds between chunks; see server::conn::memory::replay). Each connection three
ways: whole messages at a client's pace, the same against the server with --auth, and byte by
byte with no time passing. Run from the repository's top directory."""
import os
import re

# The first session an in-memory connection makes (its ids are SplitMix64 from 0; the first
# value is the nonce token, the second the session id): requests name it, as the peer named
# the session gst-rtsp-server gave it.
SESSION = b"7960286522194355700"
for name in sorted(n for n in os.listdir('tests/data') if n.endswith('.rtsp')):
    data=open('tests/data/'+name,'rb').read()
    pos=0; conns={}; order=[]; cur=None
    while pos<len(data):
        eol=data.find(b'\n',pos)
        if eol<0: eol=len(data)
        line=data[pos:eol].decode(); pos=eol+1
        if line.startswith('#') or not line: continue
        if line.startswith('%% connection '):
            cur=line[len('%% connection '):]
            if cur not in order: order.append(cur); conns[cur]=b''
            continue
        parts=line.split(' ')
        if len(parts)!=3: print(name, repr(line)); raise SystemExit
        _,d,n=parts
        n=int(n); b=data[pos:pos+n]; pos+=n+1
        if d=='C->S':
            # The peers asked gst-rtsp-server for /test; ours serves videos/video.mjpeg.
            for a,z in ((b'/test/stream=0',b'/video.mjpeg/track1'),(b'/test/trackID=0',b'/video.mjpeg/track1'),(b'/test',b'/video.mjpeg'),(b'movie.Mjpeg',b'video.mjpeg')):
                b=b.replace(a,z)
            b=re.sub(rb'(?im)^(session:[ \t]*)[^;\r\n]+', lambda m: m.group(1)+SESSION, b)
            conns[cur]+=b
    base=name.rsplit('.',1)[0]
    for c in order:
        if not conns[c]: continue
        for flags,tag in ((0,''),(1,'-auth')):
            open(f'fuzz/seeds/connection/{base}-{c}{tag}','wb').write(bytes([flags,255,40])+conns[c])
        open(f'fuzz/seeds/connection/{base}-{c}-bytewise','wb').write(bytes([0,0,0])+conns[c])
