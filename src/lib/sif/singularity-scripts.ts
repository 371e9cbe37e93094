/**
 * The shell scripts under /.singularity.d that the Apptainer and SingularityCE runtimes call
 * (apptainer/apptainer internal/pkg/build/sources/base_environment.go and *.sh). Written for airlock
 * in POSIX sh from the behaviour the runtimes expect; both runtimes' variable names are honoured
 * (APPTAINER_* first, then SINGULARITY_*). Helper variables are prefixed `_sd_` and unset, since env
 * scripts are sourced into the shell that then runs the user's command.
 */

const SOURCE_ENV = `for _sd_env in /.singularity.d/env/*.sh; do
    if [ -f "$_sd_env" ]; then
        . "$_sd_env"
    fi
done
unset _sd_env
`

/** Runs an app's script of that name, else the container's, else the fallback. */
function appOrContainer(script: string, missing: string, fallback: string): string {
  return `_sd_app="\${APPTAINER_APPNAME:-\${SINGULARITY_APPNAME:-}}"
if [ -n "$_sd_app" ]; then
    for _sd_run in "/scif/apps/$_sd_app/scif/${script}" "/scif/apps/singularity/scif/${script}"; do
        if [ -x "$_sd_run" ]; then
            exec "$_sd_run" "$@"
        fi
    done
    echo "${missing}: $_sd_app" >&2
    exit 1
fi
unset _sd_app
if [ -x "/.singularity.d/${script}" ]; then
    exec "/.singularity.d/${script}" "$@"
fi
${fallback}
`
}

export const ACTIONS: Record<'exec' | 'run' | 'shell' | 'start' | 'test', string> = {
  exec: `#!/bin/sh
# apptainer exec: the container environment, then the command as given.
${SOURCE_ENV}
exec "$@"
`,
  run: `#!/bin/sh
# apptainer run: the container (or --app) runscript with the arguments given.
${SOURCE_ENV}
${appOrContainer('runscript', 'No runscript for the container app', 'echo "No runscript in the container, running /bin/sh" >&2\nexec /bin/sh "$@"')}`,
  shell: `#!/bin/sh
# apptainer shell: $APPTAINER_SHELL if it is an executable, else bash (without rc files), else sh.
${SOURCE_ENV}
_sd_shell="\${APPTAINER_SHELL:-\${SINGULARITY_SHELL:-}}"
if [ -n "$_sd_shell" ] && [ -x "$_sd_shell" ]; then
    exec "$_sd_shell" "$@"
fi
unset _sd_shell
if [ -x /bin/bash ]; then
    SHELL=/bin/bash
    PS1="Apptainer> "
    export SHELL PS1
    exec /bin/bash --norc "$@"
fi
if [ -x /bin/sh ]; then
    SHELL=/bin/sh
    export SHELL
    exec /bin/sh "$@"
fi
echo "ERROR: the container has no /bin/sh" >&2
exit 1
`,
  start: `#!/bin/sh
# apptainer instance start: let the instance's PID 1 continue (it waits stopped; keep this line),
# then the startscript.
kill -CONT 1
${SOURCE_ENV}
if [ -x /.singularity.d/startscript ]; then
    exec /.singularity.d/startscript
fi
`,
  test: `#!/bin/sh
# apptainer test: the container (or --app) test script.
${SOURCE_ENV}
${appOrContainer('test', 'No test for the container app', 'echo "No test in the container, running /bin/sh -c true" >&2\nexec /bin/sh -c true')}`,
}

export const ENV_SCRIPTS: Record<string, string> = {
  '01-base.sh': `#!/bin/sh
#
# Base environment of the container: nothing to set; kept because runtimes and tools expect it.
#
`,
  '90-environment.sh': `#!/bin/sh
# Custom environment shell code should follow

`,
  '95-apps.sh': `#!/bin/sh
#
# With an app chosen (--app NAME), put its bin and lib directories first and read its environment.
#
_sd_app="\${APPTAINER_APPNAME:-\${SINGULARITY_APPNAME:-}}"
if [ -n "$_sd_app" ]; then
    APPTAINER_APPNAME="$_sd_app"
    export APPTAINER_APPNAME
    if [ ! -d "/scif/apps/$_sd_app/" ]; then
        echo "Could not locate the container application: $_sd_app" >&2
        exit 1
    fi
    SCIF_APPS="/scif/apps"
    SCIF_APPROOT="/scif/apps/$_sd_app"
    export SCIF_APPS SCIF_APPROOT
    PATH="/scif/apps/$_sd_app:/scif/apps/singularity:$PATH"
    if [ -d "/scif/apps/$_sd_app/bin" ]; then
        PATH="/scif/apps/$_sd_app/bin:$PATH"
    elif [ -d /scif/apps/singularity/bin ]; then
        PATH="/scif/apps/singularity/bin:$PATH"
    fi
    if [ -d "/scif/apps/$_sd_app/lib" ]; then
        LD_LIBRARY_PATH="/scif/apps/$_sd_app/lib:\${LD_LIBRARY_PATH:-}"
        export LD_LIBRARY_PATH
    elif [ -d /scif/apps/singularity/lib ]; then
        LD_LIBRARY_PATH="/scif/apps/singularity/lib:\${LD_LIBRARY_PATH:-}"
        export LD_LIBRARY_PATH
    fi
    for _sd_env in 01-base.sh 90-environment.sh; do
        if [ -f "/scif/apps/$_sd_app/scif/env/$_sd_env" ]; then
            . "/scif/apps/$_sd_app/scif/env/$_sd_env"
        elif [ -f "/scif/apps/singularity/scif/env/$_sd_env" ]; then
            . "/scif/apps/singularity/scif/env/$_sd_env"
        fi
    done
    unset _sd_env
    export PATH
fi
unset _sd_app
`,
  '99-base.sh': `#!/bin/sh
#
# Libraries the runtime binds into /.singularity.d/libs (--nv, --rocm) come last in the search path.
#
if [ -n "\${LD_LIBRARY_PATH:-}" ]; then
    LD_LIBRARY_PATH="$LD_LIBRARY_PATH:/.singularity.d/libs"
else
    LD_LIBRARY_PATH="/.singularity.d/libs"
fi
if [ -z "\${PS1:-}" ]; then
    PS1="Apptainer> "
fi
export LD_LIBRARY_PATH PS1
`,
  '99-runtimevars.sh': `#!/bin/sh
#
# PATH changes asked on the command line (--env PREPEND_PATH=, APPEND_PATH=, PATH=), applied after
# the image's own environment.
#
if [ -n "\${SING_USER_DEFINED_PREPEND_PATH:-}" ]; then
    PATH="$SING_USER_DEFINED_PREPEND_PATH:$PATH"
fi
if [ -n "\${SING_USER_DEFINED_APPEND_PATH:-}" ]; then
    PATH="$PATH:$SING_USER_DEFINED_APPEND_PATH"
fi
if [ -n "\${SING_USER_DEFINED_PATH:-}" ]; then
    PATH="$SING_USER_DEFINED_PATH"
fi
unset SING_USER_DEFINED_PREPEND_PATH SING_USER_DEFINED_APPEND_PATH SING_USER_DEFINED_PATH
export PATH
`,
}

export const STARTSCRIPT = `#!/bin/sh
# Runs when an instance starts (apptainer instance start); the image defines nothing here.
`

/** Text inside double quotes, taken literally by sh. */
export function doubleQuoted(text: string): string {
  return text.replace(/[\\"$`]/g, '\\$&')
}

/** Text inside single quotes (`'` closes, an escaped quote, and reopens). */
export function singleQuoted(text: string): string {
  return text.replace(/'/g, `'"'"'`)
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/**
 * env/10-docker2singularity.sh: the image's Env. PATH is set as the image says; other variables keep
 * a value the user set (`--env`, host environment) and default to the image's.
 */
export function dockerEnvScript(env: readonly string[]): string {
  let text = '#!/bin/sh\n'
  for (const item of env) {
    const eq = item.indexOf('=')
    const key = eq < 0 ? item : item.slice(0, eq)
    if (!NAME.test(key)) continue
    const value = doubleQuoted(item.slice(eq + 1))
    if (eq < 0) text += `export ${key}="\${${key}:-}"\n`
    else if (key === 'PATH') text += `export PATH="${value}"\n`
    else text += `export ${key}="\${${key}:-"${value}"}"\n`
  }
  return text
}

/**
 * The runscript of an OCI image: ENTRYPOINT, then the arguments given or else CMD. By default, as
 * apptainer does, the words are joined into one command line the shell evaluates (so arguments may
 * name variables of the container); with APPTAINER_NO_EVAL (--no-eval) each word is passed as is.
 */
export function ociRunscript(entrypoint: readonly string[], cmd: readonly string[]): string {
  const words = (list: readonly string[]) => list.map((w) => `"${doubleQuoted(w)}"`).join(' ')
  const literal = (list: readonly string[]) => list.map((w) => `'${singleQuoted(w)}'`).join(' ')
  return `#!/bin/sh
OCI_ENTRYPOINT='${singleQuoted(words(entrypoint))}'
OCI_CMD='${singleQuoted(words(cmd))}'

if [ -n "\${APPTAINER_NO_EVAL:-}\${SINGULARITY_NO_EVAL:-}" ]; then
    if [ $# -eq 0 ]; then
        set -- ${literal(cmd)}
    fi
    set -- ${literal(entrypoint)} "$@"
else
    CMDLINE_ARGS=""
    for arg in "$@"; do
        CMDLINE_ARGS="\${CMDLINE_ARGS} \\"\${arg}\\""
    done
    if [ $# -gt 0 ]; then
        SINGULARITY_OCI_RUN="\${OCI_ENTRYPOINT} \${CMDLINE_ARGS}"
    else
        SINGULARITY_OCI_RUN="\${OCI_ENTRYPOINT} \${OCI_CMD}"
    fi
    eval "set -- \${SINGULARITY_OCI_RUN}"
fi
if [ $# -eq 0 ]; then
    echo "The image defines no ENTRYPOINT or CMD: give a command to run" >&2
    exit 1
fi
exec "$@"
`
}
