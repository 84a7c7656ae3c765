from faasauth.cli import main

main()
