"""Redis in a Docker container (`--redis docker`), through the Docker SDK.

`sdk` imports the optional `docker` package and reaches the daemon, `server`
runs one job's private Redis in a container (kill and restart included),
`reaper` removes a job's containers if its client dies, `image` builds
`wordcount-labs/redis:local` from the installed server binary. myrds.py picks
this backend or the local one.
"""
