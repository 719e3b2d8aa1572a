/**
 * Real-format apk v2 packages and indexes for tests, made the way Alpine's abuild makes them
 * (abuild's create_apks, abuild-sign): GNU tar writes the archives (posix format for data, as
 * abuild does), a port of abuild-tar adds the per-file APK-TOOLS.checksum.SHA1 pax records
 * (--hash) and cuts end-of-archive blocks (--cut), openssl signs, and the members are gzipped
 * and concatenated. None of osb's own apk code is used to build them.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';

export const EPOCH = 1700000000;

/** Port of abuild-tar.c (do_it): --hash adds a pax checksum record to files and symlinks, --cut drops the end blocks. */
export function abuildTar(tar: Buffer, opts: { hash?: boolean; cut?: boolean; corruptChecksumOf?: string }): Buffer {
  const out: Buffer[] = [];
  let pax: Buffer | undefined;
  let paxHdr: Buffer | undefined;
  const octal = (h: Buffer, off: number, len: number, v: number) => h.write(v.toString(8).padStart(len - 1, '0') + '\0', off, len, 'latin1');
  const checksum = (h: Buffer) => {
    h.fill(0x20, 148, 156);
    let s = 0;
    for (const b of h) s += b;
    octal(h, 148, 7, s);
  };
  for (let p = 0; p + 512 <= tar.length; ) {
    const hdr = Buffer.from(tar.subarray(p, p + 512));
    p += 512;
    if (hdr[0] === 0) {
      if (opts.cut) break;
      out.push(hdr);
      continue;
    }
    const size = parseInt(hdr.subarray(124, 136).toString('latin1').replace(/\0.*$/, '').trim() || '0', 8);
    const aligned = Math.ceil(size / 512) * 512;
    const body = tar.subarray(p, p + aligned);
    p += aligned;
    const flag = String.fromCharCode(hdr[156]!);
    if (flag === 'x') {
      paxHdr = hdr;
      pax = Buffer.from(body.subarray(0, size));
      continue;
    }
    const name = hdr.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    if (opts.hash && (flag === '0' || flag === '7' || flag === '2')) {
      const linkname = hdr.subarray(157, 257).toString('utf8').replace(/\0.*$/s, '');
      let digest = createHash('sha1').update(flag === '2' ? Buffer.from(linkname) : body.subarray(0, size)).digest('hex');
      if (opts.corruptChecksumOf && (pax?.toString('utf8').includes(`path=${opts.corruptChecksumOf}\n`) || name === opts.corruptChecksumOf)) {
        digest = createHash('sha1').update('not the content').digest('hex');
      }
      if (flag !== '2') {
        // add_legacy_checksum: "APK2", the digest's OpenSSL nid (64, sha1) and size, then the
        // digest itself, in the file header's linkname after 3 zero bytes.
        const info = Buffer.alloc(8 + 20);
        info.write('APK2', 0, 'latin1');
        info.writeUInt16LE(64, 4);
        info.writeUInt16LE(20, 6);
        Buffer.from(digest, 'hex').copy(info, 8);
        info.copy(hdr, 157 + 3);
        checksum(hdr);
      }
      const rec = `APK-TOOLS.checksum.SHA1=${digest}\n`;
      let len = rec.length + 2;
      for (let i = len; i > 9; i = Math.floor(i / 10)) len++;
      pax = Buffer.concat([pax ?? Buffer.alloc(0), Buffer.from(`${len} ${rec}`)]);
      if (!paxHdr) {
        paxHdr = Buffer.alloc(512);
        paxHdr.write('PaxHeader', 0, 'latin1');
        octal(paxHdr, 100, 8, 0o644);
        paxHdr.write('x', 156, 'latin1');
        paxHdr.write('ustar\x0000', 257, 'latin1');
      }
      octal(paxHdr, 124, 12, pax.length);
      checksum(paxHdr);
    }
    if (pax && paxHdr) out.push(paxHdr, pax, Buffer.alloc((512 - (pax.length % 512)) % 512));
    out.push(hdr, body);
    pax = paxHdr = undefined;
  }
  return Buffer.concat(out);
}

const gz = (b: Buffer) => gzipSync(b, { level: 9 });

export type FileSpec = string | Buffer | { readonly data: string | Buffer; readonly mode?: number; readonly uid?: number; readonly gid?: number } | { readonly dir: true; readonly mode?: number } | { readonly symlink: string };

/** A GNU tar (posix format) archive of `files` built in a scratch directory; names may be rewritten with `rename`. */
export function gnuTarPosix(files: Readonly<Record<string, FileSpec>>, rename: Readonly<Record<string, string>> = {}): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'osb-abuild-'));
  try {
    for (const [path, spec] of Object.entries(files)) {
      const full = join(dir, path);
      mkdirSync(dirname(full), { recursive: true });
      if (typeof spec === 'object' && 'dir' in spec) {
        mkdirSync(full, { recursive: true });
        chmodSync(full, spec.mode ?? 0o755);
      } else if (typeof spec === 'object' && 'symlink' in spec) symlinkSync(spec.symlink, full);
      else {
        const f = typeof spec === 'string' || Buffer.isBuffer(spec) ? { data: spec } : spec;
        writeFileSync(full, f.data);
        // Owners other than one's own need root (the tests that install run as root anyway).
        if (('gid' in f || 'uid' in f) && process.getuid?.() === 0) chownSync(full, ('uid' in f && f.uid) || 0, ('gid' in f && f.gid) || 0);
        chmodSync(full, ('mode' in f && f.mode) || 0o644);
      }
    }
    // Each directory before what is in it, as `tar -c` of a tree lists them.
    const names = new Set<string>();
    for (const path of Object.keys(files).sort()) {
      const parts = path.split('/');
      for (let i = 1; i < parts.length; i++) names.add(parts.slice(0, i).join('/'));
      names.add(path);
    }
    const transforms = Object.entries(rename).map(([from, to]) => `--transform=s,^${from}$,${to},`);
    // Owners as the files have them (abuild runs under fakeroot; tests run as root).
    const args = ['--format=posix', '--pax-option=exthdr.name=%d/PaxHeaders/%f,atime:=0,ctime:=0', `--mtime=@${EPOCH}`, '--no-recursion', '-P'];
    // A package without files (a meta package) still has a data segment: an empty archive.
    if (names.size === 0) return Buffer.alloc(1024);
    return execFileSync('tar', [...args, ...transforms, '-C', dir, '-cf', '-', ...names], { maxBuffer: 64 << 20 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A gzip member holding a cut tar of `.SIGN.RSA[256].<keyName>`: the signature of `signed`, by openssl (abuild-sign). */
export function signatureMember(signed: Buffer, key: TestKey, digest: 'sha1' | 'sha256' = 'sha1'): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'osb-sign-'));
  try {
    writeFileSync(join(dir, 'signed'), signed);
    const name = `.SIGN.${digest === 'sha1' ? 'RSA' : 'RSA256'}.${key.name}`;
    execFileSync('openssl', ['dgst', `-${digest}`, '-sign', key.privatePath, '-out', join(dir, name), join(dir, 'signed')]);
    const tar = execFileSync('tar', ['--owner=root:0', '--group=root:0', `--mtime=@${EPOCH}`, '-C', dir, '-cf', '-', name]);
    return gz(abuildTar(tar, { cut: true }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface TestKey {
  /** File name of the public key, as in /etc/apk/keys and in signatures. */
  readonly name: string;
  readonly privatePath: string;
  readonly publicPem: string;
}

/** An RSA key pair made by openssl, named like abuild-keygen's keys. */
export function makeKey(dir: string, label: string): TestKey {
  mkdirSync(dir, { recursive: true });
  const name = `osb-test-${label}-${createHash('sha1').update(label + dir).digest('hex').slice(0, 8)}.rsa.pub`;
  const privatePath = join(dir, name.replace(/\.pub$/, ''));
  execFileSync('openssl', ['genrsa', '-out', privatePath, '2048'], { stdio: 'ignore' });
  const publicPem = execFileSync('openssl', ['rsa', '-in', privatePath, '-pubout'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  return { name, privatePath, publicPem };
}

/** GNU tar (default format) of in-memory files, for control and index archives. */
export function gnuTar(files: ReadonlyArray<[string, string | Buffer, number?]>, cut: boolean): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'osb-ctl-'));
  try {
    for (const [name, data, mode] of files) {
      writeFileSync(join(dir, name), data);
      chmodSync(join(dir, name), mode ?? 0o644);
    }
    const tar = execFileSync('tar', ['--owner=root:0', '--group=root:0', `--mtime=@${EPOCH}`, '-C', dir, '-cf', '-', ...files.map((f) => f[0])]);
    return cut ? abuildTar(tar, { cut: true }) : tar;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export { gz };
