from wiring.cli import main

main()
