from sohoa.cli import main

main()
