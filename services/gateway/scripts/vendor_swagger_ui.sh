#!/usr/bin/env bash
# Refresh the Swagger UI assets that /docs serves offline, from the npm package swagger-ui-dist.
# Usage: services/gateway/scripts/vendor_swagger_ui.sh [version]   (default: the version pinned below)
set -euo pipefail
VERSION="${1:-5.35.0}"
DEST="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/src/gateway/openapi/swagger_ui"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "swagger-ui-dist@$VERSION" >/dev/null && tar xzf swagger-ui-dist-*.tgz)
mkdir -p "$DEST"
for file in swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css favicon-32x32.png LICENSE NOTICE; do
  cp "$WORK/package/$file" "$DEST/$file"
done
echo "$VERSION" > "$DEST/VERSION"
echo "swagger-ui-dist $VERSION -> $DEST"
