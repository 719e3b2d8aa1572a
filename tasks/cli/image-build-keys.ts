/**
 * Every key OpenCHAMI image-build reads from its config, and what osb does with it: the reader
 * (tasks/cli/image-build.ts) accepts exactly these, the README's "image-build users" table is
 * generated from them (`npm run readme`), and tests/tasks/image-build-config.test.ts checks them
 * against image-build's own key list. Apart from the reader so `osb help` loads no YAML parser.
 */
export const IMAGE_BUILD_KEYS: Readonly<Record<string, string>> = {
  'options.layer_type': '`base`: the rootfs from `parent` (or scratch) with the steps below; `ansible`: the playbooks run on the parent (`--ansible-playbook`), published as its layers plus one',
  'options.name': "the image's name: `--oci-ref localhost/NAME:TAG`, the registry repository `publish_registry/NAME`, the S3 object names",
  'options.publish_tags': '`--tag` (a string or a list); one push per tag',
  'options.pkg_manager': '`dnf`: `--distro rocky`; `zypper`: `--distro opensuse` (`--distro`/`--os-version` on the command line pick another distro of that package manager)',
  'options.parent': '`scratch`: bootstrap; `HOST/REPO:TAG`: `--parent docker://…`; `NAME:TAG` (no registry host): the local container store, as buildah reads it',
  'options.publish_local': '`--publish-local` (must be a boolean)',
  'options.publish_registry': '`--publish-registry REGISTRY/NAME`',
  'options.registry_opts_push': 'buildah flags: `--tls-verify=false` → `--insecure-registry`, `--authfile F` → `--registry-auth-file F`, `--cert-dir D` → `--registry-ca D/ca.crt`; `--creds` and others refused',
  'options.registry_opts_pull': 'as registry_opts_push, for pulling the parent',
  'options.publish_s3': '`--publish-s3 URL` with `--s3-layout image-build`: the squashfs, and the kernel and initramfs of the image\'s /boot',
  'options.s3_prefix': '`--s3-prefix`',
  'options.s3_bucket': '`--s3-bucket` (image-build\'s default: boot-images)',
  'options.labels': '`--label KEY=VALUE` each, beside the org.openchami.image.* labels image-build sets',
  'options.gpgcheck': '`--gpgcheck`; `false` is refused unless `--allow-unsigned` is given too',
  'options.proxy': '`--proxy URL` for dnf, zypper and key downloads',
  'options.scap_benchmark': 'an OpenSCAP scan of the rootfs from the host (`--scap-datastream` = openscap benchmark_path, `--scap-profile` = openscap profile)',
  'options.oval_eval': 'an OVAL evaluation (`--oval-definitions` = openscap oval_url)',
  'options.install_scap': "adds image-build's packages openscap-utils, scap-security-guide and bzip2 to the image",
  'options.groups': '`--ansible-group` (ansible layers)',
  'options.playbooks': '`--ansible-playbook` (a string or a list)',
  'options.inventory': '`--ansible-inventory` (a string or a list)',
  'options.vars': '`ansible_vars`: extra variables of the playbooks',
  'options.ansible_verbosity': '`--ansible-verbosity` 0-4',
  repos: 'the repositories, in both forms ({alias, url, gpg}, {alias, config, gpg_key}), and only these (`--no-distro-repos`); an http(s) key is fetched once and its fingerprint recorded; a repository without a key is checked against `--keys-dir`',
  modules: 'dnf module commands (enable, disable, install, remove, reset) before the packages',
  package_groups: '`--package-groups` (dnf groups, zypper patterns)',
  packages: '`--extra-pkgs`',
  remove_packages: '`--remove-packages`: removed after the installs, with the dependencies only they needed',
  cmds: 'run in the rootfs with its shell (bash, else sh), after copyfiles; a failing command fails the build',
  copyfiles: 'copied into the rootfs after the packages (opts: --chmod, --chown)',
  openscap: '`profile`, `benchmark_path` (a host path) and `oval_url` for the scan',
};

