#!/usr/bin/env bash
# Turn the sample author's code folder (data/sample/code) into a local git repository.
#
#   data/sample/make_git_repo.sh DEST
#
# DEST must not exist or be an empty folder. The single commit has a fixed author, committer and
# date, so the commit id is the same on every machine. Clone it with: git clone file://DEST
set -euo pipefail

if [ "$#" -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 DEST" >&2
  exit 2
fi
dest="$1"
src="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/code"

if [ -e "$dest" ] && [ -n "$(ls -A "$dest" 2>/dev/null)" ]; then
  echo "error: $dest exists and is not empty" >&2
  exit 1
fi
mkdir -p "$dest"
(cd "$src" && tar --exclude='__pycache__' --exclude='*.pyc' -cf - .) | (cd "$dest" && tar -xf -)
find "$dest" -type f -exec chmod 644 {} +

export GIT_AUTHOR_NAME="Jiwon Ashby" GIT_AUTHOR_EMAIL="jiwon.ashby@example.com"
export GIT_COMMITTER_NAME="Jiwon Ashby" GIT_COMMITTER_EMAIL="jiwon.ashby@example.com"
export GIT_AUTHOR_DATE="2025-02-24T21:30:00+09:00" GIT_COMMITTER_DATE="2025-02-24T21:30:00+09:00"
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null

cd "$dest"
git init --quiet --initial-branch=main
git add .
git -c commit.gpgsign=false commit --quiet -m "sogeum 0.3.0: chunking, Hangul-safe normalisation, LLM call cache"
echo "$(cd "$dest" && pwd) $(git rev-parse HEAD)"
