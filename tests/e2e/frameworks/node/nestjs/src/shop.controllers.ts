import {
  Body, Controller, Delete, Get, HttpCode, NotFoundException, Param, ParseIntPipe, Patch, Post, Put, UseGuards,
} from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiParam } from '@nestjs/swagger';
import { shop } from '../../common/shop';
import { AuthGuard } from './auth.guard';

@Controller('health')
export class HealthController {
  @Get()
  @ApiOperation({ summary: 'Liveness probe' })
  check() {
    return shop.health();
  }
}

@Controller('api/auth')
export class AuthController {
  @Post('login')
  @HttpCode(200)
  @ApiOperation({ summary: 'Exchange credentials for a token' })
  login() {
    return shop.login();
  }

  @Post('logout')
  @HttpCode(200)
  @UseGuards(AuthGuard)
  @ApiBearerAuth()
  @ApiOperation({ summary: "Revoke the caller's token" })
  logout() {
    return shop.logout();
  }
}

@Controller('api/products')
export class ProductsController {
  @Get()
  @ApiOperation({ summary: 'The public catalog' })
  listProducts() {
    return shop.listProducts();
  }

  @Get(':id')
  @ApiOperation({ summary: 'One product' })
  getProduct(@Param('id', ParseIntPipe) id: number) {
    const found = shop.getProduct(id);
    if (found === null) throw new NotFoundException('no such product');
    return found;
  }

  @Post(':id/reviews')
  @UseGuards(AuthGuard)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Review a product' })
  addReview(@Param('id', ParseIntPipe) id: number) {
    return shop.addReview(id);
  }
}

@Controller('api')
export class CatalogController {
  @Get('categories/:slug/products')
  @ApiOperation({ summary: 'Products of a category' })
  categoryProducts(@Param('slug') slug: string) {
    return shop.categoryProducts(slug);
  }

  @Get('promotions/:slug')
  @ApiOperation({ summary: 'A promotion' })
  promotion(@Param('slug') slug: string) {
    return shop.promotion(slug);
  }
}

@Controller('api/users')
export class UsersController {
  @Get(':username')
  @ApiOperation({ summary: 'A public profile' })
  publicProfile(@Param('username') username: string) {
    return shop.publicProfile(username);
  }

  @Put(':username/profile')
  @UseGuards(AuthGuard)
  @ApiBearerAuth()
  @ApiOperation({ summary: "Update one's profile" })
  updateProfile(@Param('username') username: string, @Body() body: Record<string, unknown>) {
    return shop.updateProfile(username, body);
  }

  @Get(':username/orders')
  @UseGuards(AuthGuard)
  @ApiBearerAuth()
  @ApiOperation({ summary: "A user's orders" })
  userOrders(@Param('username') username: string) {
    return shop.userOrders(username);
  }

  @Get(':username/orders/:id')
  @UseGuards(AuthGuard)
  @ApiBearerAuth()
  @ApiOperation({ summary: "One of a user's orders" })
  userOrder(@Param('username') username: string, @Param('id', ParseIntPipe) id: number) {
    return shop.userOrder(username, id);
  }
}

/** Every route of this controller is guarded: the guard sits on the class. */
@Controller('api/orders')
@UseGuards(AuthGuard)
@ApiBearerAuth()
export class OrdersController {
  @Post()
  @ApiOperation({ summary: 'Place an order' })
  createOrder() {
    return shop.createOrder();
  }

  @Get(':id')
  @ApiOperation({ summary: 'One order' })
  getOrder(@Param('id', ParseIntPipe) id: number) {
    const found = shop.getOrder(id);
    if (found === null) throw new NotFoundException('no such order');
    return found;
  }

  @Patch(':id')
  @ApiOperation({ summary: 'Change an order' })
  updateOrder(@Param('id', ParseIntPipe) id: number) {
    return shop.updateOrder(id);
  }

  @Delete(':id')
  @ApiOperation({ summary: 'Cancel an order' })
  deleteOrder(@Param('id', ParseIntPipe) id: number) {
    return shop.deleteOrder(id);
  }
}

@Controller('api/cart')
@UseGuards(AuthGuard)
@ApiBearerAuth()
export class CartController {
  @Get()
  @ApiOperation({ summary: "The caller's cart" })
  getCart() {
    return shop.cart();
  }

  @Post('items')
  @ApiOperation({ summary: 'Add an item to the cart' })
  addItem() {
    return shop.addCartItem();
  }

  @Delete('items/:itemId')
  @ApiOperation({ summary: 'Remove an item from the cart' })
  removeItem(@Param('itemId') itemId: string) {
    return shop.removeCartItem(itemId);
  }
}

@Controller('api/files')
export class FilesController {
  // Express 5 / path-to-regexp 8 named wildcard: the path may contain slashes.
  @Get('*path')
  @UseGuards(AuthGuard)
  @ApiBearerAuth()
  @ApiParam({ name: 'path', description: 'file path, slashes allowed' })
  @ApiOperation({ summary: 'Download a stored file' })
  download(@Param('path') path: string | string[]) {
    return shop.file(Array.isArray(path) ? path.join('/') : path);
  }
}

@Controller('api/reports')
export class ReportsController {
  /** Documented as secured, but nobody added the guard. */
  @Get('sales')
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Sales report' })
  salesReport() {
    return shop.salesReport();
  }
}
