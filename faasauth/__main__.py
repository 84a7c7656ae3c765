from faasauth.cli.app import main

main()
