from seitpp.cli import main

main()
