from livefilter.cli import main

main()
