from alertnet.cli import main

raise SystemExit(main())
