/**
 * osb uki against the bare objcopy line that builds the same UKI (the same stub, the same section
 * files at the same addresses), and the UKI's boot to ready under OVMF + swtpm (TCG) against osb's
 * direct-kernel boot of the same initrd.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inTempDir, measureInterleaved, median, type BenchRow } from './lib.js';

const SECTIONS = ['.osrel', '.cmdline', '.linux', '.initrd'] as const;

export async function benchUki(osb: string, kernel: string, cacheDir: string, runs: number, readySeconds: (out: string) => number): Promise<BenchRow[]> {
  return inTempDir('uki', async (dir) => {
    const wd = join(dir, 'wd');
    const args = `--workdir ${wd} --kernel ${kernel} --agent-init --cache-dir ${cacheDir}`;
    execFileSync('sh', ['-c', `${osb} uki ${args} > /dev/null`]);
    // What osb put where: each section's file (read back) and its address, for the bare line.
    const table = execFileSync('objdump', ['-h', join(wd, 'osb.efi')], { encoding: 'utf8' });
    const add: string[] = [];
    for (const name of SECTIONS) {
      const m = new RegExp(`\\s${name.replace('.', '\\.')}\\s+[0-9a-f]+\\s+([0-9a-f]+)`).exec(table);
      if (!m) throw new Error(`osb's UKI has no ${name}`);
      const file = join(dir, `section${name}`);
      execFileSync('objcopy', ['-O', 'binary', `--only-section=${name}`, join(wd, 'osb.efi'), file]);
      add.push(`--add-section ${name}=${file} --change-section-vma ${name}=0x${m[1]}`);
    }
    const stub = '/usr/lib/systemd/boot/efi/linuxx64.efi.stub';
    writeFileSync(join(dir, 'objcopy.sh'), `objcopy ${add.join(' ')} ${stub} ${dir}/bare.efi\n`);
    const [o, bare] = measureInterleaved(runs, [
      { cmd: `${osb} uki ${args} --no-deps --force > /dev/null`, out: join(wd, 'osb.efi') },
      { cmd: `sh ${dir}/objcopy.sh`, out: join(dir, 'bare.efi') },
    ]);
    const rows: BenchRow[] = [{ name: 'osb uki (kernel, initrd, os-release, cmdline on systemd-stub, PCR 11 predicted)', median: o!.median, runs, baseline: 'the bare objcopy line, same sections', baselineMedian: bare!.median, goal: '<= 1.1x' }];
    const boots = Math.min(runs, 3);
    const boot = (extra: string): number => readySeconds(execFileSync('sh', ['-c', `${osb} boot --no-deps ${args} ${extra}`], { encoding: 'utf8', env: { ...process.env, CI: 'true' } }));
    const uki: number[] = [];
    const direct: number[] = [];
    for (let i = 0; i < boots; i++) {
      uki.push(boot('--uki'));
      direct.push(boot('--initrd'));
    }
    rows.push({ name: 'boot to ready, UKI under OVMF with swtpm, PCR 11 checked (TCG)', median: median(uki), runs: boots, baseline: 'osb boot --initrd of the same kernel and initrd (direct kernel, q35)', baselineMedian: median(direct) });
    return rows;
  });
}
