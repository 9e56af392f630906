/**
 * Running the CLI as the unprivileged `nobody` from a root test (tests run as root, where file
 * modes do not stop writes): every file the child creates or writes obeys the modes.
 *
 * The child keeps CAP_DAC_READ_SEARCH, so it still reads the code and the packages wherever the
 * repository was cloned (a 0700 parent folder, as `mktemp -d` makes, included), and only writes
 * are checked against the modes.
 */
export const NOBODY = { uid: 65534, gid: 65534 }

/** The command line that runs `command args…` as `nobody` (setpriv, from util-linux). */
export function asNobody(command: string, args: string[]): { command: string; args: string[] } {
  const keepRead = ['--inh-caps=+dac_read_search', '--ambient-caps=+dac_read_search']
  return { command: 'setpriv', args: [`--euid=${NOBODY.uid}`, `--egid=${NOBODY.gid}`, '--clear-groups', ...keepRead, command, ...args] }
}
