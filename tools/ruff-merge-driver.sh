#!/usr/bin/env bash
# A git merge driver for *.py that formats the merge base and the other side with this
# repository's ruff settings before the ordinary 3-way merge, so a branch written before the
# code base was formatted (or formatted differently) conflicts only where code really differs.
#
# Use it for one merge, from the repository root (nothing is written to git config):
#   echo '*.py merge=ruff' > /tmp/ruff-attributes
#   git -c core.attributesFile=/tmp/ruff-attributes \
#       -c merge.ruff.driver="tools/ruff-merge-driver.sh %O %A %B %P" -c merge.ruff.name=ruff \
#       merge <branch>
# Ours (%A) is taken as already formatted. Files ruff excludes (generated/) are left as they are.
set -u
base=$1 ours=$2 theirs=$3 path=$4
ruff=${RUFF:-.venv/bin/ruff}
for file in "$base" "$theirs"; do
  tmp=$(mktemp)
  for step in "format" "check --fix-only --exit-zero" "format"; do
    # shellcheck disable=SC2086  # $step holds a subcommand and its options
    if $ruff $step --force-exclude --stdin-filename "$path" - < "$file" > "$tmp" 2>/dev/null; then
      cp "$tmp" "$file"
    fi
  done
  rm -f "$tmp"
done
exec git merge-file -L ours -L base -L theirs "$ours" "$base" "$theirs"
