from scalehook.cli.main import main

main()
