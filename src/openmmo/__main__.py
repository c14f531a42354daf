from openmmo.cli import main

main()
