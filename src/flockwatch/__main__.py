from flockwatch.cli.main import main

main()
