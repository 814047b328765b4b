"""A Ray job: ingest a folder of photos into a vsearch collection, on the cluster it runs on.

    ray job submit --address http://HEAD:8265 --working-dir ingest -- \
        python job.py /shared/photos --home /shared/indexes

Takes every option of `vsearch ingest` (`--engine ray` is implied); `ray job submit` sets
RAY_ADDRESS, so the job joins that cluster. README.md beside this file says what each node needs.
"""
import sys

from vsearch.cli import app

if __name__ == "__main__":
    app(["ingest", *sys.argv[1:], "--engine", "ray"], prog_name="job.py")
