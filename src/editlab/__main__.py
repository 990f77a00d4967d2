from editlab.cli.main import main

raise SystemExit(main())
