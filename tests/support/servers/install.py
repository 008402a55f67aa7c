"""Install the real servers the integration tests use, from Debian packages, when missing."""

import os
import shutil
import subprocess
import sys

#: command -> Debian package
NEEDED = {
    "ngircd": "ngircd",
    "mpd": "mpd",
    "redis-server": "redis-server",
    "redis-sentinel": "redis-sentinel",
    "ssh": "openssh-client",
    "chromium": "chromium",
    "chromedriver": "chromium-driver",
    "ffmpeg": "ffmpeg",
}


def missing() -> list:
    return sorted({pkg for cmd, pkg in NEEDED.items()
                   if shutil.which(cmd) is None and not os.path.exists("/usr/sbin/" + cmd)})


def main() -> int:
    packages = missing()
    if not packages:
        return 0
    print("installing test servers: %s" % " ".join(packages), flush=True)
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(prefix + ["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(prefix + ["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + packages,
                   check=True, env=env)
    still = missing()
    if still:
        print("still missing after install: %s" % " ".join(still), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
