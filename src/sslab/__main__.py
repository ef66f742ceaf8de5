from sslab.cli import main

main()
