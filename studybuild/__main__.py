from studybuild.cli import main

main()
