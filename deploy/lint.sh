#!/bin/sh
# House rules that a compiler does not check: the clang-format style of
# .clang-format, no unbounded string functions (use snprintf and the util_
# helpers instead), and tests that read only files inside the repository.
set -eu
cd "$(dirname "$0")/.."

files=$(git ls-files '*.c' '*.h')
clang-format --dry-run --Werror $files

banned='\b(sprintf|vsprintf|strcpy|strcat|gets|atoi|atol|atoll)[[:space:]]*\('
if grep -nE "$banned" $files; then
    echo "lint: banned function above (use snprintf, util_strlcpy, util_parse_i64)" >&2
    exit 1
fi
# No function in core/ or server/ over 70 lines, as ctags counts them.
CTAGS=$(command -v ctags-universal || command -v ctags)
long=$("$CTAGS" --fields=+ne --c-kinds=f -o - $(git ls-files 'core/*.c' 'server/*.c') |
    awk -F'\t' '{ l = e = 0
        for (i = 4; i <= NF; i++) { if ($i ~ /^line:/) l = substr($i, 6); if ($i ~ /^end:/) e = substr($i, 5) }
        if (e - l + 1 > 70) print $2 ": " $1 " is " e - l + 1 " lines" }')
if [ -n "$long" ]; then
    echo "$long"
    echo "lint: functions above are over 70 lines; split them" >&2
    exit 1
fi

# The test command must pass on a fresh clone with nothing beside it: no test,
# build file or test script may name a path outside the repository (the public
# data in ../shared, a home or work folder). Benchmarks and evaluations take
# such paths as arguments, and prose may name them; both are exempt.
guarded=$(git ls-files 'tests/*' 'meson.build' '*/meson.build' 'deploy/test.sh' |
    grep -v -e '^tests/bench/' -e '\.md$' -e '^tests/data/.*\.jsonl$' -e '/LICENSE$')
outside='\.\./shared|["'"'"']\.\.["'"'"'][[:space:]]*[/,][[:space:]]*["'"'"']shared|(^|[^[:alnum:]_.])/(home|work|root|Users)/'
if grep -nE "$outside" $guarded; then
    echo "lint: a test or build file above refers to a path outside the repository" \
        "(put fixtures in tests/data; full-data runs belong in tests/bench)" >&2
    exit 1
fi
echo "lint: ok"
