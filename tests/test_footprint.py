"""What a running bot holds: optional features' libraries are imported when first used."""

import os
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

from .support.config import write_config
from .support.servers import bot_env, twistd_argv

#: A drop-in that names which of the lazily imported libraries the bot holds.
PROBE = '''
import sys

from pubbot.api import command


@command("held")
def held(msg):
    """Which optional libraries this process has imported."""
    import mimetypes
    found = [name for name in ("croniter", "dateutil", "prometheus_client", "twisted.web.static")
             if name in sys.modules]
    if mimetypes.inited:
        found.append("mimetypes tables")
    return " ".join(found) or "none"
'''


class LazyImportTests(SynchronousTestCase):
    def test_a_running_bot_holds_no_cron_metrics_or_mime_libraries_until_used(self):
        # croniter (with dateutil) 0.65 MB, prometheus_client 1 MB, the
        # machine's MIME tables 0.3 MB: imported by the first cron job, the
        # first scrape of /metrics, never (the dashboard's four types).
        cwd = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(cwd, "dropins"))
        with open(os.path.join(cwd, "dropins", "probe.py"), "w") as f:
            f.write(PROBE)
        config = write_config(os.path.join(cwd, "bot.toml"), (
            '[plugins]\npaths = ["%s"]\n[web]\nendpoint = "tcp:0:interface=127.0.0.1"\n'
            '[store]\npath = "%s"\n') % (os.path.join(cwd, "dropins"), os.path.join(cwd, "store.sqlite")))
        out = subprocess.run(twistd_argv("--pidfile=", "-n", "pubbot", "--config", config),
                             input="!held\n", capture_output=True, text=True, env=bot_env(), cwd=cwd,
                             timeout=120)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertEqual(out.stdout.splitlines(), ["<pubbot> none"])

    def test_the_first_cron_job_imports_croniter(self):
        script = ("import sys\nfrom pubbot.api import cron\nassert 'croniter' not in sys.modules\n"
                  "job = cron('0 12 * * *', timezone='UTC')(lambda bot: None)\n"
                  "print('croniter' in sys.modules, job.next_after(0.0, None))\n")
        out = subprocess.run([sys.executable, "-c", script], capture_output=True,
                             text=True, env=bot_env(), timeout=60)
        self.assertEqual((out.returncode, out.stdout), (0, "True 43200.0\n"), out.stderr)
