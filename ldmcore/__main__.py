from ldmcore.cli.main import main

raise SystemExit(main())
