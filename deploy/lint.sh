#!/bin/sh
# House rules that a compiler does not check: the clang-format style of
# .clang-format, and no unbounded string functions (use snprintf and the
# util_ helpers instead).
set -eu
cd "$(dirname "$0")/.."

files=$(git ls-files '*.c' '*.h')
clang-format --dry-run --Werror $files

banned='\b(sprintf|vsprintf|strcpy|strcat|gets|atoi|atol|atoll)[[:space:]]*\('
if grep -nE "$banned" $files; then
    echo "lint: banned function above (use snprintf, util_strlcpy, util_parse_i64)" >&2
    exit 1
fi
echo "lint: ok"
