/**
 * The one settings table (DESIGN principle 3). The yargs options, `osb help`, the README's
 * options table and each target's input hash all come from here.
 *
 * Precedence: command-line flag, then the OSB_* variable, then Kata's variable, then the project
 * file (osb.yaml), then the workdir's record of earlier commands, then the default.
 */
import { cpus } from 'node:os';
import { VMM_PROFILES } from '../../lib/vmm.js';

/** The grammars a value may be held to (tasks/settings/grammar.ts checks each). */
export type Grammar = 'fileName' | 'tag' | 'repository' | 'registry' | 'reference' | 'keyValue' | 'parent' | 'pemFile' | 'arch';

export type SettingType = 'string' | 'boolean' | 'number' | 'array';
export type SettingGroup = 'global' | 'rootfs' | 'image' | 'initrd' | 'kernel' | 'boot' | 'oci' | 'publish';

export interface EnvName {
  readonly name: string;
  /** A Kata-style negative switch (SKIP_DAX_HEADER=yes means dax=false). */
  readonly invert?: boolean;
}

export interface Setting {
  /** The key in parsed settings (camelCase). The flag is its kebab-case. */
  readonly key: string;
  readonly alias?: string;
  readonly type: SettingType;
  readonly choices?: readonly string[];
  /** Default value; `undefined` means unset (computed later or optional). */
  readonly default?: string | number | boolean | readonly string[];
  /** How the default reads in help when it is computed. */
  readonly defaultText?: string;
  readonly env: readonly EnvName[];
  readonly describe: string;
  readonly group: SettingGroup;
  /** The flag as users write it, when not `--<kebab key>` (e.g. `--no-deps`). */
  readonly flag?: string;
  /** Reject values below this (numbers). */
  readonly min?: number;
  /**
   * Per-run options (--force, --dry-run, -j, ...) say how to run this command, not what to build:
   * they are not recorded in the workdir and not accepted in osb.yaml.
   */
  readonly perRun?: boolean;
  /** A file or directory path: made absolute (against the cwd, or osb.yaml's directory). */
  readonly path?: boolean;
  /** The key in osb.yaml when not the snake_case of `key` (e.g. `packages` for extraPkgs). */
  readonly yaml?: string;
  /**
   * A list whose items may hold spaces and commas (KEY=VALUE labels): each flag or osb.yaml item
   * is one item, and the environment form is split on newlines only.
   */
  readonly wholeItems?: boolean;
  /** A list whose items may hold spaces (dnf group names): split on commas and newlines only. */
  readonly commaList?: boolean;
  /** A password or secret key: `osb config` says whether it is set, never its value. */
  readonly secret?: boolean;
  /** The grammar its value (each item of a list) must follow (tasks/grammar.ts); refused with exit 2 otherwise. */
  readonly grammar?: Grammar;
}

const env = (...names: string[]): EnvName[] => names.map((name) => ({ name }));

const TABLE = [
  // global
  { key: 'workdir', path: true, type: 'string', default: './workdir', env: env('OSB_WORKDIR', 'WORKDIR'), group: 'global', describe: 'Directory for outputs, logs, caches and build state' },
  { key: 'config', perRun: true, path: true, type: 'string', defaultText: './osb.yaml when present', env: env('OSB_CONFIG'), group: 'global', describe: 'Project file with settings, packages, repos and hooks (osb config --schema)' },
  { key: 'wait', flag: '--no-wait', perRun: true, type: 'boolean', default: true, defaultText: 'wait for the other osb', env: [], group: 'global', describe: 'When another osb holds the workdir: exit 1 at once instead of waiting' },
  { key: 'force', perRun: true, alias: 'B', type: 'boolean', default: false, env: env('OSB_FORCE'), group: 'global', describe: 'Rebuild the named targets even when up to date (like make -B)' },
  { key: 'deps', perRun: true, flag: '--no-deps', type: 'boolean', default: true, defaultText: 'off (dependencies are built first)', env: [], group: 'global', describe: 'Build only the named target; fail if an input it needs is missing' },
  { key: 'dryRun', perRun: true, alias: 'n', type: 'boolean', default: false, env: env('OSB_DRY_RUN'), group: 'global', describe: 'Print the plan and every command; change nothing on disk' },
  { key: 'allowEmpty', perRun: true, type: 'boolean', default: false, env: env('OSB_ALLOW_EMPTY'), group: 'global', describe: 'Build a rootfs, image, initrd, OCI image, bundle or squashfs of a tree that is not a whole OS; without it osb refuses a tree with no init (an executable /sbin/init or /init) or nothing saying what OS it is (/etc/os-release, /usr/lib/os-release, or the /var/lib/osbuilder/osbuilder.yaml osb writes)' },
  { key: 'jobs', perRun: true, alias: 'j', type: 'number', min: 1, defaultText: 'number of CPUs', env: env('OSB_JOBS'), group: 'global', describe: 'Targets run in parallel, and make -j for the kernel' },
  { key: 'verbose', perRun: true, alias: 'v', type: 'boolean', default: false, env: env('OSB_VERBOSE'), group: 'global', describe: 'Stream subprocess output to the terminal' },
  { key: 'signKey', perRun: true, path: true, type: 'string', env: env('OSB_SIGN_KEY'), group: 'global', describe: 'Sign what is built with this cosign.key (osb keygen): a DSSE envelope beside each SBOM and provenance; osb publish also signs the image and attaches the attestations in the registry. Passphrase: OSB_SIGN_PASSWORD, COSIGN_PASSWORD or the terminal' },
  { key: 'debug', perRun: true, type: 'boolean', default: false, env: env('OSB_DEBUG', 'DEBUG'), group: 'global', describe: 'Echo every command (+ cmd) and show stack traces' },
  { key: 'logFormat', perRun: true, type: 'string', choices: ['text', 'ndjson'], default: 'text', env: env('OSB_LOG_FORMAT'), group: 'global', describe: 'text for people; ndjson: one JSON event per line (start/finish/skip/fail)' },
  { key: 'sourceDateEpoch', type: 'number', min: 1, default: 1, env: env('SOURCE_DATE_EPOCH'), group: 'global', describe: 'Timestamp (seconds) for every mtime and date written; fixed so builds are reproducible' },
  { key: 'sbomFormat', type: 'string', choices: ['spdx', 'cyclonedx'], default: 'spdx', env: env('OSB_SBOM_FORMAT'), group: 'global', describe: 'SBOM written beside each rootfs, image, initrd and OCI archive: SPDX 2.3 JSON (.spdx.json) or CycloneDX 1.6 JSON (.cdx.json)' },
  // rootfs
  { key: 'distro', type: 'string', default: 'debian', env: env('OSB_DISTRO', 'DISTRO'), group: 'rootfs', describe: 'Distribution of the rootfs (osb list-distros)' },
  { key: 'osVersion', type: 'string', defaultText: "the distro's default release", env: env('OSB_OS_VERSION', 'OS_VERSION'), group: 'rootfs', describe: 'Release of the distro (bookworm, noble, v3.22, ...)' },
  { key: 'arch', grammar: 'arch', type: 'string', defaultText: 'the host architecture', env: env('OSB_ARCH', 'ARCH'), group: 'rootfs', describe: "Target architecture (x86_64, aarch64, ...; Debian's names amd64, arm64 and ppc64el are taken as x86_64, aarch64 and ppc64le). osb oci and osb publish take a list (x86_64,aarch64): each architecture is built under WORKDIR/ARCH and one OCI image index names them all" },
  { key: 'mirror', type: 'string', defaultText: "the distro's official archive", env: env('OSB_MIRROR', 'MIRROR', 'REPO_URL'), group: 'rootfs', describe: 'Package archive URL' },
  { key: 'extraPkgs', yaml: 'packages', type: 'array', default: [], env: env('OSB_EXTRA_PKGS', 'EXTRA_PKGS'), group: 'rootfs', describe: 'Extra packages to install (space or comma separated)' },
  { key: 'agentInit', type: 'boolean', default: false, env: env('OSB_AGENT_INIT', 'AGENT_INIT'), group: 'rootfs', describe: 'Install the agent as /sbin/init (no systemd); needed for initrds' },
  { key: 'slim', type: 'boolean', default: true, env: env('OSB_SLIM'), group: 'rootfs', describe: 'Leave out docs, man/info pages and translations, the distro-native way (license files stay); --no-slim keeps them' },
  { key: 'agentBin', path: true, type: 'string', defaultText: "osb's built-in smoke-test agent", env: env('OSB_AGENT_BIN', 'AGENT_SOURCE_BIN'), group: 'rootfs', describe: 'Agent binary to install (e.g. kata-agent)' },
  { key: 'agentName', type: 'string', defaultText: 'kata-agent with --agent-bin, else osb-agent', env: env('OSB_AGENT_NAME'), group: 'rootfs', describe: 'Installed as /usr/bin/NAME and NAME.service' },
  { key: 'parent', grammar: 'parent', type: 'string', defaultText: '(none: bootstrap the distro)', env: env('OSB_PARENT'), group: 'rootfs', describe: 'Build the rootfs on top of this image (docker://HOST/REPO:TAG, oci:DIR[:TAG], oci-archive:FILE, containers-storage:NAME[:TAG]); osb oci adds one layer to its layers' },
  { key: 'hook', path: true, yaml: 'hooks', type: 'array', default: [], env: env('OSB_HOOKS'), group: 'rootfs', describe: 'Script run against the staged rootfs (ROOTFS_DIR set); repeatable; .mjs runs with zx' },
  { key: 'rootfsDir', path: true, type: 'string', defaultText: 'WORKDIR/rootfs', env: env('OSB_ROOTFS_DIR', 'ROOTFS_DIR'), group: 'rootfs', describe: 'Where the rootfs is built (osb refuses / and foreign non-empty directories)' },
  { key: 'cacheDir', path: true, type: 'string', defaultText: 'WORKDIR/cache', env: env('OSB_CACHE_DIR'), group: 'rootfs', describe: 'Package and download cache, reused across rebuilds' },
  { key: 'keysDir', path: true, type: 'string', env: env('OSB_KEYS_DIR'), group: 'rootfs', describe: 'Extra trusted repository signing keys (Alpine *.rsa.pub, RPM distros armored RPM-GPG-KEY-*)' },
  { key: 'packageGroups', type: 'array', commaList: true, default: [], env: env('OSB_PACKAGE_GROUPS', 'PACKAGE_GROUPS'), group: 'rootfs', describe: 'Package groups to install: dnf comps groups (by id or name: "Development Tools"), zypper patterns (comma separated: names may hold spaces)' },
  { key: 'repo', type: 'array', default: [], env: env('OSB_REPOS'), group: 'rootfs', describe: 'Extra rpm-md repository as URL,KEYFILE (its armored signing key); repeatable' },
  { key: 'allowUnsigned', type: 'boolean', default: false, env: env('OSB_ALLOW_UNSIGNED'), group: 'rootfs', describe: 'Allow a distro whose packages are not signed (Clear Linux); signed distros are always checked' },
  { key: 'gpgcheck', type: 'boolean', default: true, env: env('OSB_GPGCHECK'), group: 'rootfs', describe: 'Check the signatures of packages and repository metadata; no (image-build gpgcheck: false) is refused unless --allow-unsigned' },
  { key: 'proxy', type: 'string', env: env('OSB_PROXY'), group: 'rootfs', describe: 'HTTP proxy URL for the package manager and key downloads (image-build proxy)' },
  { key: 'distroRepos', type: 'boolean', default: true, env: env('OSB_DISTRO_REPOS'), group: 'rootfs', describe: "Install from the distro's own repositories as well as osb.yaml's repos; --no-distro-repos: from the listed repos only (as image-build does)" },
  { key: 'removePackages', type: 'array', default: [], env: env('OSB_REMOVE_PACKAGES'), group: 'rootfs', describe: 'Packages removed after the installs, with the dependencies only they needed (image-build remove_packages)' },
  { key: 'agent', type: 'boolean', default: true, env: env('OSB_AGENT'), group: 'rootfs', describe: 'Install the agent; --no-agent builds a plain OS image (what image-build configs build)' },
  { key: 'scapDatastream', path: true, type: 'string', env: env('OSB_SCAP_DATASTREAM'), group: 'rootfs', describe: 'Scan the rootfs with OpenSCAP against this SCAP data stream (e.g. ssg-debian12-ds.xml); results and report beside the rootfs' },
  { key: 'scapProfile', type: 'string', defaultText: "the data stream's default", env: env('OSB_SCAP_PROFILE'), group: 'rootfs', describe: 'XCCDF profile of the OpenSCAP scan' },
  { key: 'scapFail', type: 'boolean', default: false, env: env('OSB_SCAP_FAIL'), group: 'rootfs', describe: 'Fail the build when a rule of the OpenSCAP scan fails (default: report only)' },
  { key: 'ovalDefinitions', type: 'string', env: env('OSB_OVAL_DEFINITIONS'), group: 'rootfs', describe: 'Evaluate these OVAL definitions (a file, or an http(s) URL fetched once) against the rootfs' },
  { key: 'ansiblePlaybook', path: true, type: 'array', default: [], env: env('OSB_ANSIBLE_PLAYBOOKS'), group: 'rootfs', describe: 'Ansible playbook run against the rootfs (chroot connection, no container engine); repeatable (image-build layer_type: ansible)' },
  { key: 'ansibleInventory', path: true, type: 'array', default: [], env: env('OSB_ANSIBLE_INVENTORY'), group: 'rootfs', describe: 'Ansible inventory (file or directory) for the playbooks; repeatable' },
  { key: 'ansibleGroup', type: 'array', default: [], env: env('OSB_ANSIBLE_GROUPS'), group: 'rootfs', describe: 'Inventory groups the rootfs is a member of for the playbooks; repeatable' },
  { key: 'ansibleVerbosity', type: 'number', choices: ['0', '1', '2', '3', '4'], default: 0, env: env('OSB_ANSIBLE_VERBOSITY'), group: 'rootfs', describe: 'Ansible verbosity 0-4 (-v count)' },
  // image
  { key: 'fsType', type: 'string', choices: ['ext4', 'xfs', 'erofs'], default: 'ext4', env: env('OSB_FS_TYPE', 'FS_TYPE'), group: 'image', describe: 'Filesystem of the root partition' },
  { key: 'blockSize', type: 'number', choices: ['1024', '2048', '4096'], default: 4096, env: env('OSB_BLOCK_SIZE', 'BLOCK_SIZE'), group: 'image', describe: 'Filesystem block size in bytes' },
  { key: 'rootFreeSpace', type: 'number', min: 0, default: 0, env: env('OSB_ROOT_FREE_SPACE', 'ROOT_FREE_SPACE'), group: 'image', describe: 'Free space to leave in the root filesystem, MiB' },
  { key: 'imageSize', type: 'number', min: 1, defaultText: 'computed from the rootfs', env: env('OSB_IMAGE_SIZE', 'IMAGE_SIZE', 'IMG_SIZE'), group: 'image', describe: 'Image size in MiB; refused (with the size needed) when too small' },
  { key: 'partitionTable', type: 'string', choices: ['mbr', 'gpt'], default: 'mbr', env: env('OSB_PARTITION_TABLE'), group: 'image', describe: 'Partition table type (gpt with --no-dax: a discoverable disk image)' },
  { key: 'dax', type: 'boolean', default: true, env: [{ name: 'OSB_DAX' }, { name: 'SKIP_DAX_HEADER', invert: true }], group: 'image', describe: 'Write the NVDIMM/DAX header so the image also boots as a QEMU nvdimm (--no-dax or SKIP_DAX_HEADER=yes to skip)' },
  { key: 'format', type: 'string', choices: ['raw', 'qcow2'], default: 'raw', env: env('OSB_IMAGE_FORMAT'), group: 'image', describe: 'Image file format' },
  { key: 'measuredRootfs', type: 'boolean', default: false, env: env('OSB_MEASURED_ROOTFS', 'MEASURED_ROOTFS'), group: 'image', describe: 'dm-verity hash partition (p2) with a salt from the inputs; writes WORKDIR/root_hash.txt; no DAX header. osb sysext: a GPT DDI of /usr and usr-verity, with WORKDIR/NAME.usrhash' },
  { key: 'imageName', grammar: 'fileName', type: 'string', default: 'osb.img', env: env('OSB_IMAGE_NAME'), group: 'image', describe: 'Image file name in the workdir (a name, not a path)' },
  // initrd
  { key: 'compression', type: 'string', choices: ['zstd', 'gzip', 'xz', 'lz4', 'none'], default: 'zstd', env: env('OSB_COMPRESSION'), group: 'initrd', describe: 'Initrd compression' },
  { key: 'owner', type: 'string', env: env('OSB_OWNER'), group: 'initrd', describe: 'Force every initrd entry to UID:GID (e.g. 0:0)' },
  { key: 'initrdName', grammar: 'fileName', type: 'string', default: 'osb-initrd.img', env: env('OSB_INITRD_NAME'), group: 'initrd', describe: 'Initrd file name in the workdir (a name, not a path)' },
  { key: 'initrdExtra', path: true, type: 'array', default: [], env: env('OSB_INITRD_EXTRA'), group: 'initrd', describe: 'Directory overlaid on the initrd (e.g. kernel modules); repeatable' },
  // kernel
  { key: 'kernelSrc', path: true, type: 'string', env: env('OSB_KERNEL_SRC', 'KERNEL_SRC'), group: 'kernel', describe: 'Kernel source directory or tarball' },
  { key: 'kernelVersion', type: 'string', defaultText: 'the linux-source-X.Y found under /usr/src', env: env('OSB_KERNEL_VERSION', 'KERNEL_VERSION'), group: 'kernel', describe: 'Kernel version X.Y[.Z] to download from kernel.org' },
  { key: 'kernelConfigFragment', path: true, yaml: 'kernel_config_fragments', type: 'array', default: [], env: env('OSB_KERNEL_CONFIG_FRAGMENTS'), group: 'kernel', describe: 'Extra kernel config fragment file; repeatable' },
  // boot
  { key: 'initrd', perRun: true, type: 'boolean', default: false, env: [], group: 'boot', describe: 'osb boot: boot the initrd (default: the image); osb kata-config: point Kata at the initrd' },
  { key: 'image', perRun: true, type: 'boolean', default: false, env: [], group: 'boot', describe: 'osb boot: boot the disk image' },
  { key: 'kernel', path: true, type: 'string', defaultText: 'the kernel osb built', env: env('OSB_KERNEL'), group: 'boot', describe: 'osb boot: kernel image to boot' },
  { key: 'vmm', perRun: true, type: 'string', choices: VMM_PROFILES, default: 'qemu', env: env('OSB_VMM'), group: 'boot', describe: "osb boot: boot as this runtime boots its guest, under qemu: qemu (osb's own: bzImage on q35), kata-qemu (Kata's default: vmlinux through PVH on q35, the image as a read-only DAX nvdimm, Kata's kernel parameters), firecracker (vmlinux on a microvm: virtio-mmio only, no PCI, no ACPI), cloud-hypervisor (vmlinux through PVH, virtio-blk over PCI)" },
  { key: 'accel', type: 'string', choices: ['auto', 'kvm', 'tcg'], default: 'auto', env: env('OSB_ACCEL'), group: 'boot', describe: 'Accelerator: kvm, tcg, or auto (KVM when a test boot shows it runs guests; probed once per host)' },
  { key: 'bootTimeout', type: 'number', min: 1, default: 120, env: env('OSB_BOOT_TIMEOUT'), group: 'boot', describe: 'Seconds to wait for the ready line' },
  { key: 'readyPattern', type: 'string', default: 'osb-agent: ready', env: env('OSB_READY_PATTERN'), group: 'boot', describe: "Regular expression marking the agent's ready line" },
  { key: 'memory', type: 'number', min: 64, defaultText: 'sized from the initrd (at least 512)', env: env('OSB_MEMORY'), group: 'boot', describe: 'Guest memory in MiB' },
  { key: 'interactive', perRun: true, type: 'boolean', default: false, env: [], group: 'boot', describe: 'Attach the serial console to the terminal' },
  { key: 'uki', perRun: true, type: 'boolean', default: false, env: [], group: 'boot', describe: "osb boot: boot WORKDIR/osb.efi under OVMF with a software TPM (swtpm); fail unless the guest's PCR 11 is the one osb uki predicted" },
  { key: 'secureBoot', perRun: true, type: 'boolean', default: false, env: [], group: 'boot', describe: "osb boot --uki: boot with Secure Boot enforced by your own key: --sb-cert enrolled as PK, KEK and db in OVMF's variable store (also written to WORKDIR/osb.efi.vars.fd, for any OVMF VM); the UKI must be signed with --sb-key" },
  { key: 'secureBootVars', perRun: true, path: true, type: 'string', env: env('OSB_SECURE_BOOT_VARS'), group: 'boot', describe: "osb boot --uki: boot with Secure Boot enforced: OVMF's Secure Boot build with this variable store (PK, KEK and db enrolled, e.g. Debian's /usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd)" },
  { key: 'sysext', perRun: true, type: 'boolean', default: false, env: [], group: 'boot', describe: 'osb boot: also attach WORKDIR/NAME.raw (osb sysext, --sysext-name) as a read-only virtio disk with the serial extension-NAME, as Kata attaches a guest extension image; the guest merges it (README)' },
  { key: 'squashfs', perRun: true, type: 'boolean', default: false, env: [], group: 'boot', describe: 'osb boot: boot the squashfs (read-only, under a tmpfs overlay, via a small boot initrd)' },
  // oci, bundle, squashfs
  { key: 'ociRef', grammar: 'reference', type: 'string', default: 'localhost/osb:latest', env: env('OSB_OCI_REF'), group: 'oci', describe: 'Image reference NAME[:TAG] (org.opencontainers.image.ref.name; the name podman load gives it)' },
  { key: 'ociCompression', type: 'string', choices: ['gzip', 'zstd'], default: 'gzip', env: env('OSB_OCI_COMPRESSION'), group: 'oci', describe: 'Compression of the OCI layer' },
  { key: 'label', grammar: 'keyValue', wholeItems: true, type: 'array', default: [], env: env('OSB_LABELS'), group: 'oci', describe: 'Image config label KEY=VALUE; repeatable (OSB_LABELS: one per line)' },
  { key: 'annotation', grammar: 'keyValue', wholeItems: true, type: 'array', default: [], env: env('OSB_ANNOTATIONS'), group: 'oci', describe: 'Manifest annotation KEY=VALUE; repeatable (OSB_ANNOTATIONS: one per line)' },
  { key: 'dockerArchive', type: 'boolean', default: false, env: env('OSB_DOCKER_ARCHIVE'), group: 'oci', describe: 'osb oci: also write WORKDIR/osb-docker.tar for docker load' },
  { key: 'toolbox', type: 'boolean', default: false, env: env('OSB_TOOLBOX'), group: 'oci', describe: "A container image toolbox enters with nothing to install: no agent, the packages toolbox needs (capsh, sudo, passwd tools; for Debian what toolbox's own image carries), sudo without a password for its group, and toolbox's label" },
  { key: 'distrobox', type: 'boolean', default: false, env: env('OSB_DISTROBOX'), group: 'oci', describe: "A container image distrobox enters with nothing to install: no agent, and the packages distrobox-init would otherwise install at the first entry" },
  { key: 'squashfsCompression', type: 'string', choices: ['zstd', 'gzip', 'xz', 'lz4', 'lzo'], default: 'zstd', env: env('OSB_SQUASHFS_COMPRESSION'), group: 'oci', describe: 'Compression of the squashfs (osb\'s kernel reads all of them)' },
  // uki
  { key: 'ukiCmdline', type: 'string', default: 'console=ttyS0 panic=1', env: env('OSB_UKI_CMDLINE'), group: 'boot', describe: "osb uki: the kernel command line in the UKI's .cmdline (measured into PCR 11)" },
  { key: 'ukiStub', path: true, type: 'string', defaultText: "systemd-boot-efi's linuxx64.efi.stub (linuxaa64 for aarch64)", env: env('OSB_UKI_STUB'), group: 'boot', describe: 'osb uki: the systemd-stub the UKI is made on' },
  { key: 'sbKey', path: true, type: 'string', env: env('OSB_SB_KEY'), group: 'boot', describe: 'osb uki: sign the UKI for Secure Boot with this PEM private key (sbsign), with --sb-cert' },
  { key: 'sbCert', path: true, type: 'string', env: env('OSB_SB_CERT'), group: 'boot', describe: "osb uki: the PEM certificate of --sb-key (sbverify checks the signature with it)" },
  // sysext
  { key: 'sysextName', grammar: 'fileName', type: 'string', env: env('OSB_SYSEXT_NAME'), group: 'image', describe: 'osb sysext: the extension\'s name (WORKDIR/NAME.raw, extension-release.NAME)' },
  { key: 'sysextTree', path: true, type: 'string', env: env('OSB_SYSEXT_TREE'), group: 'image', describe: 'osb sysext: the tree the extension adds (usr/ and opt/ only)' },
  { key: 'sysextFor', alias: 'for', type: 'string', choices: ['systemd', 'kata'], default: 'systemd', env: env('OSB_SYSEXT_FOR'), group: 'image', describe: "osb sysext: systemd: a system extension of /usr for the rootfs; kata: a Kata guest extension image (erofs + dm-verity hash partition, WORKDIR/NAME.verity_params) of any tree, needing no rootfs" },
  { key: 'sysextFs', type: 'string', choices: ['erofs', 'squashfs'], default: 'erofs', env: env('OSB_SYSEXT_FS'), group: 'image', describe: 'osb sysext: the extension image\'s file system' },
  // publish (credentials are perRun: never recorded in the workdir, never read from osb.yaml)
  { key: 'publishRegistry', grammar: 'registry', type: 'string', env: env('OSB_PUBLISH_REGISTRY'), group: 'publish', describe: 'osb publish: push the OCI image to HOST[:PORT]/REPO (image-build publish_registry)' },
  { key: 'tag', grammar: 'tag', yaml: 'publish_tags', wholeItems: true, type: 'array', default: [], defaultText: "the --oci-ref tag", env: env('OSB_PUBLISH_TAGS'), group: 'publish', describe: 'osb publish: tag to publish under (registry, S3, podman); repeatable (OSB_PUBLISH_TAGS: one per line)' },
  { key: 'creds', perRun: true, secret: true, type: 'string', defaultText: 'REGISTRY_AUTH_FILE, containers auth.json, ~/.docker/config.json', env: env('OSB_REGISTRY_CREDS'), group: 'publish', describe: 'osb publish: registry credentials USER:PASSWORD' },
  { key: 'registryCa', grammar: 'pemFile', path: true, type: 'string', defaultText: 'the system CAs', env: env('OSB_REGISTRY_CA'), group: 'publish', describe: "osb publish: PEM file of the CA that signed the registry's certificate" },
  { key: 'insecureRegistry', type: 'boolean', default: false, env: env('OSB_INSECURE_REGISTRY'), group: 'publish', describe: 'osb publish: talk plain HTTP to the registry (no TLS)' },
  { key: 'registryChunkSize', perRun: true, type: 'number', min: 0, default: 0, defaultText: '0 (each blob in one PUT)', env: env('OSB_REGISTRY_CHUNK_SIZE'), group: 'publish', describe: 'osb publish: upload blobs in PATCH chunks of N KiB' },
  { key: 'registryMountFrom', grammar: 'repository', perRun: true, type: 'string', env: env('OSB_REGISTRY_MOUNT_FROM'), group: 'publish', describe: 'osb publish: mount blobs from this repository of the same registry instead of uploading them' },
  { key: 'registryRetries', perRun: true, type: 'number', min: 0, default: 4, env: env('OSB_REGISTRY_RETRIES'), group: 'publish', describe: 'osb publish: retries (with backoff from 0.5 s) after a 5xx or a dropped connection' },
  { key: 'cacheTo', grammar: 'registry', perRun: true, type: 'string', env: env('OSB_CACHE_TO'), group: 'publish', describe: 'Push what cacheable targets (rootfs, image, kernel) build to HOST[:PORT]/REPO, tagged by their inputs hash (same registry options as publish)' },
  { key: 'cacheFrom', grammar: 'registry', perRun: true, type: 'string', env: env('OSB_CACHE_FROM'), group: 'publish', describe: 'Pull a cacheable target from HOST[:PORT]/REPO when it holds one with the same inputs hash, instead of building it; a bad digest is refused and the target built' },
  { key: 'publishLocal', type: 'boolean', default: false, env: env('OSB_PUBLISH_LOCAL'), group: 'publish', describe: 'osb publish: load the image into the local podman store (image-build publish_local)' },
  { key: 'publishS3', type: 'string', env: env('OSB_PUBLISH_S3'), group: 'publish', describe: 'osb publish: S3 endpoint URL to upload the boot artefacts to (image-build publish_s3)' },
  { key: 's3Bucket', type: 'string', env: env('OSB_S3_BUCKET', 'S3_BUCKET'), group: 'publish', describe: 'osb publish: S3 bucket (must exist)' },
  { key: 's3Prefix', type: 'string', defaultText: '(none)', env: env('OSB_S3_PREFIX', 'S3_PREFIX'), group: 'publish', describe: 'osb publish: key prefix: objects go to PREFIX NAME/TAG/ARCH/FILE' },
  { key: 's3Artifacts', type: 'array', default: ['squashfs', 'kernel', 'initrd', 'image'], env: env('OSB_S3_ARTIFACTS'), group: 'publish', describe: 'osb publish: what goes to S3 (squashfs, kernel, initrd, image); each is built first' },
  { key: 's3Layout', type: 'string', choices: ['osb', 'image-build'], default: 'osb', env: env('OSB_S3_LAYOUT'), group: 'publish', describe: "osb publish: S3 object names: osb (PREFIX NAME/TAG/ARCH/FILE with an index) or image-build (PREFIX OS-NAME-TAG for the squashfs, efi-images/PREFIX for the image's own kernel and initramfs)" },
  { key: 'registryAuthFile', path: true, type: 'string', defaultText: 'REGISTRY_AUTH_FILE, containers auth.json, ~/.docker/config.json', env: env('OSB_REGISTRY_AUTH_FILE'), group: 'publish', describe: "Registry credentials file (containers auth.json; buildah's --authfile)" },
  { key: 's3Region', type: 'string', default: 'us-east-1', env: env('OSB_S3_REGION', 'AWS_REGION'), group: 'publish', describe: 'osb publish: S3 region (signatures name it)' },
  { key: 's3Access', perRun: true, type: 'string', env: env('S3_ACCESS', 'AWS_ACCESS_KEY_ID'), group: 'publish', describe: 'osb publish: S3 access key (better given in the environment)' },
  { key: 's3Secret', perRun: true, secret: true, type: 'string', env: env('S3_SECRET', 'AWS_SECRET_ACCESS_KEY'), group: 'publish', describe: 'osb publish: S3 secret key (better given in the environment)' },
] as const satisfies readonly Setting[];

/** The settings table, row by row (the `Settings` type below is derived from its literal rows). */
export const SETTINGS: readonly Setting[] = TABLE;

/** One row of the table, with its literal types (key, type, choices, default). */
type Row = (typeof TABLE)[number];
/** Every setting's key: a target's `settings:` list is checked against this by the compiler. */
export type SettingKey = Row['key'];

/** The value a row gives: its choices as a string union, numbers, booleans, lists of strings. */
type ValueOf<R> = R extends { type: 'boolean' } ? boolean
  : R extends { type: 'number' } ? number
  : R extends { type: 'array' } ? readonly string[]
  : R extends { choices: readonly (infer C)[] } ? C
  : string;
/** A row with a default always has a value; one without may be unset. */
type Resolved<R> = R extends { default: unknown } ? ValueOf<R> : ValueOf<R> | undefined;

/** An extra package repository with the key that signs it (osb.yaml `repos`). */
export interface RepoSpec {
  readonly url: string;
  /** Public key file (absolute) that signs the repository. */
  readonly key?: string;
  /** The key as an http(s) URL (image-build `gpg`): fetched once into the cache, its fingerprint recorded. */
  readonly keyUrl?: string;
  /** The repository id (image-build `alias`). */
  readonly alias?: string;
  /** false: the repository's .repo body said gpgcheck=0 (refused unless --allow-unsigned). */
  readonly gpgcheck?: boolean;
  /** zypper priority (image-build `priority`). */
  readonly priority?: number;
  /** apt: the suite (e.g. bookworm-backports); default: the release. */
  readonly suite?: string;
  /** apt: components; default main. */
  readonly components?: readonly string[];
}

/** A command run in the rootfs with a shell (image-build `cmds`); `loglevel` is how its output is shown. */
export interface CmdSpec {
  readonly cmd: string;
  /** INFO (shown), WARN (shown as warnings), ERROR (as errors: image-build's default), DEBUG (only with --verbose). */
  readonly loglevel: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
}

/** A host file or directory copied into the rootfs (image-build `copyfiles`). */
export interface CopySpec {
  /** Absolute host path. */
  readonly src: string;
  /** Path in the rootfs; ending in / means into that directory. */
  readonly dest: string;
  /** Mode of what is copied (buildah copy's --chmod), else the source's. */
  readonly mode?: number;
  /** UID:GID of what is copied (--chown, numeric), else 0:0. */
  readonly owner?: string;
}

/** One dnf module command (image-build `modules`: enable: [...], install: [...]). */
export interface ModuleSpec {
  readonly command: 'enable' | 'disable' | 'install' | 'remove' | 'reset';
  readonly specs: readonly string[];
}

/** The structured values beyond the table (osb.yaml lists, or an image-build config). */
export interface ListValues {
  /** osb.yaml `repos`. */
  readonly repos: readonly RepoSpec[];
  /** dnf module commands, run before the packages. */
  readonly modules: readonly ModuleSpec[];
  /** Copied into the rootfs after the packages. */
  readonly copyfiles: readonly CopySpec[];
  /** Run in the rootfs after copyfiles. */
  readonly cmds: readonly CmdSpec[];
  /** Extra variables of the Ansible playbooks. */
  readonly ansibleVars: Readonly<Record<string, unknown>>;
}

/** The list keys, each with its value when nothing gives it. */
export const LIST_DEFAULTS: ListValues = { repos: [], modules: [], copyfiles: [], cmds: [], ansibleVars: {} };
export type ListKey = keyof ListValues;
export const LIST_KEYS = Object.keys(LIST_DEFAULTS) as ListKey[];
/** A list's key in osb.yaml (ansibleVars: ansible_vars). */
export const yamlKeyOfList = (key: ListKey): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * The settings a command runs with, typed from the table: `s.fsType` is 'ext4' | 'xfs' | 'erofs',
 * `s.arch` a string or undefined. tasks/cli/resolve.ts makes them, checking each value against
 * its row; nothing downstream casts them.
 */
export type Settings = { readonly [R in Row as R['key']]: Resolved<R> } & ListValues & {
  /** Always set: the CPU count when not given. */
  readonly jobs: number;
  /** Where each value came from, as `osb config` says it ("flag --distro", "osb.yaml:3"). */
  readonly sources: Readonly<Record<string, string>>;
  /** Arguments after `--` (osb boot: extra kernel arguments). */
  readonly passthrough: readonly string[];
};

/** The keys a target may name as its inputs: the table's, and the lists (`repos`, `cmds`, ...). */
export type InputKey = SettingKey | ListKey;

export const settingByKey: ReadonlyMap<string, Setting> = new Map(SETTINGS.map((s) => [s.key, s]));

export function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** A setting's value as people read it: yes/no, lists joined by spaces, '' when unset. */
export function showValue(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (Array.isArray(v)) return v.map((x) => (typeof x === 'object' ? JSON.stringify(x) : String(x))).join(' ');
  if (typeof v === 'object') return Object.keys(v).length ? JSON.stringify(v) : '';
  return String(v);
}

/** The key in osb.yaml: snake_case of the setting, unless it names its own. */
export function yamlKey(s: Setting): string {
  return s.yaml ?? kebab(s.key).replace(/-/g, '_');
}

/** The default as help and `osb config` show it. */
export function defaultOf(s: Setting): string {
  if (s.defaultText) return s.defaultText;
  if (s.default === undefined) return '(unset)';
  if (Array.isArray(s.default)) return s.default.length ? s.default.join(' ') : '(none)';
  if (typeof s.default === 'boolean') return s.default ? 'yes' : 'no';
  return String(s.default);
}

export function flagOf(s: Setting): string {
  return s.flag ?? `--${kebab(s.key)}`;
}

/** Kata's booleans are yes/no; accept those, true/false, 1/0, on/off. */
export function parseBool(value: string, where: string): boolean {
  const v = value.trim().toLowerCase();
  if (['yes', 'y', 'true', '1', 'on'].includes(v)) return true;
  if (['no', 'n', 'false', '0', 'off', ''].includes(v)) return false;
  throw new SettingValueError(`${where}=${value} is not a yes/no value`);
}

export class SettingValueError extends Error {}

/** Split at commas and newlines only ("Minimal Install,Development Tools"). */
export function splitCommas(value: string): string[] {
  return value.split(/[,\n]/).map((v) => v.trim()).filter(Boolean);
}

/** Split list values from env vars ("a b,c" → [a, b, c]). */
export function splitList(value: string): string[] {
  return value.split(/[\s,]+/).filter(Boolean);
}

/** The value a setting takes from the environment, if any (OSB_* before Kata's names). */
export function fromEnv(s: Setting, environ: NodeJS.ProcessEnv): { value: unknown; name: string } | undefined {
  for (const e of s.env) {
    const raw = environ[e.name];
    if (raw === undefined || (raw === '' && s.type !== 'boolean')) continue;
    switch (s.type) {
      case 'boolean': {
        const b = parseBool(raw, e.name);
        return { value: e.invert ? !b : b, name: e.name };
      }
      case 'number': {
        const n = Number(raw);
        if (!Number.isFinite(n)) throw new SettingValueError(`${e.name}=${raw} is not a number`);
        return { value: n, name: e.name };
      }
      case 'array':
        return { value: s.wholeItems ? raw.split('\n').filter(Boolean) : s.commaList ? splitCommas(raw) : splitList(raw), name: e.name };
      default:
        return { value: raw, name: e.name };
    }
  }
  return undefined;
}

export function defaultJobs(): number {
  return Math.max(1, cpus().length);
}
